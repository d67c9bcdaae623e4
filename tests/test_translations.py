"""The translations by hassfest's rules, and a key for everything the code raises or shows.

A custom integration ships `translations/en.json` and no `strings.json` (that is core's
source file for Lokalise), so hassfest checks `translations/*.json`. Its rules
(script/hassfest/translations.py, not in the wheel) are restated here: no HTML-like
`<...>`, placeholders as `{identifier}`, none in entity states, no URLs, no surrounding
spaces, keys in lowercase snake case. The code is read with `ast` for every
translation key it raises, shows or files as an issue, and the placeholders it passes.
"""

from __future__ import annotations

import ast
import json
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from homeassistant.helpers import config_validation as cv

from custom_components.victron_balance.logic.balancer.planner import DriveRefusal

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "victron_balance"
FILES = sorted((INTEGRATION / "translations").glob("*.json"))
EN = json.loads((INTEGRATION / "translations" / "en.json").read_text())

# hassfest's patterns.
TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
SINGLE_QUOTED_PLACEHOLDER = re.compile(r"'{\w+}'")
COMBINED_REFERENCE = re.compile(r"(.+\[%)|(%\].+)")
URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)"
    r"[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(\/.*)?)",
    re.IGNORECASE,
)


def placeholders(text: str) -> set[str]:
    """The `{name}` placeholders of a translated string."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def problems_of(text: str, *, placeholders_allowed: bool = True) -> list[str]:
    """What hassfest would say about one translated string."""
    found = []
    try:
        cv.string_with_no_html(text)
    except Exception as err:  # noqa: BLE001  (voluptuous or probatio, by version)
        found.append(str(err))
    if SINGLE_QUOTED_PLACEHOLDER.search(text):
        found.append("a placeholder inside single quotes")
    try:
        used = placeholders(text)
    except ValueError as err:  # an unbalanced brace
        found.append(f"not a format string: {err}")
        used = set()
    if used and not placeholders_allowed:
        found.append("placeholders are not supported here")
    found += [
        f"placeholder {name!r} is not an identifier" for name in used if not name.isidentifier()
    ]
    if COMBINED_REFERENCE.search(text):
        found.append("a combined translation")
    if text != text.strip():
        found.append("leading or trailing spaces")
    if URL.search(text):
        found.append("a URL (use a description placeholder)")
    return found


def strings(
    tree: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every translated string with the keys that lead to it."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from strings(value, (*path, key))
        else:
            yield (*path, key), value


def in_entity_state(path: tuple[str, ...]) -> bool:
    """States, state attributes and units of entities take no placeholders."""
    return path[0] == "entity" and any(
        part in ("state", "state_attributes", "unit_of_measurement") for part in path[3:]
    )


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_string_passes_hassfest(path: Path) -> None:
    tree = json.loads(path.read_text())
    problems = [
        f"{'.'.join(keys)}: {problem}"
        for keys, text in strings(tree)
        for problem in (
            problems_of(text, placeholders_allowed=not in_entity_state(keys))
            if isinstance(text, str)
            else ["not a string"]
        )
    ]
    assert problems == []


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_the_structure_passes_hassfest(path: Path) -> None:
    tree = json.loads(path.read_text())
    bad = []
    for flow in ("config", "options"):
        for step_id, step in tree.get(flow, {}).get("step", {}).items():
            extra = set(step.get("data_description", {})) - set(step.get("data", {}))
            bad += [f"{flow}.step.{step_id}.data_description.{key}: not in data" for key in extra]
    for platform, entities in tree.get("entity", {}).items():
        for key, entity in entities.items():
            keys = [key, *entity.get("state", {}), *entity.get("state_attributes", {})]
            bad += [
                f"entity.{platform}: bad key {k!r}" for k in keys if not TRANSLATION_KEY.match(k)
            ]
    for key, issue in tree.get("issues", {}).items():
        if "title" not in issue or ("description" in issue) == ("fix_flow" in issue):
            bad.append(f"issues.{key}: needs a title and a description or a fix_flow")
    for key, exception in tree.get("exceptions", {}).items():
        if set(exception) != {"message"} or cv.slug(key) != key:
            bad.append(f"exceptions.{key}: a slug key with a message only")
    for key, service in tree.get("services", {}).items():
        if not TRANSLATION_KEY.match(key) or not {"name", "description"} <= set(service):
            bad.append(f"services.{key}: needs a name and a description")
        for field, texts in service.get("fields", {}).items():
            if not TRANSLATION_KEY.match(field) or not {"name", "description"} <= set(texts):
                bad.append(f"services.{key}.fields.{field}: needs a name and a description")
    for key, selector in tree.get("selector", {}).items():
        bad += [
            f"selector.{key}: bad option {o!r}"
            for o in selector.get("options", {})
            if not TRANSLATION_KEY.match(o)
        ]
    assert bad == []


# ------------------------------------------------------------------ what the code uses
@dataclass(frozen=True)
class Use:
    """One place that names a translation: where, which key, which placeholders."""

    where: str
    key: str
    placeholders: frozenset[str] | None  # None: not a literal dict, not checked


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(INTEGRATION.rglob("*.py"))]


SOURCES = _sources()


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dict_keys(node: ast.expr | None) -> frozenset[str] | None:
    if node is None:
        return frozenset()
    if isinstance(node, ast.Dict) and all(_literal(k) for k in node.keys if k is not None):
        return frozenset(str(_literal(k)) for k in node.keys if k is not None)
    return None


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _calls() -> Iterator[tuple[str, ast.Call]]:
    for path, tree in SOURCES:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield f"{path.relative_to(INTEGRATION)}:{node.lineno}", node


def _string_arguments(function: str, position: int, keyword: str) -> set[str]:
    """The string literals passed to `function` at `position` or as `keyword`."""
    found = set()
    for _, call in _calls():
        if _name(call.func) != function:
            continue
        node = call.args[position] if len(call.args) > position else _keyword(call, keyword)
        if (value := _literal(node)) is not None:
            found.add(value)
    return found


# Raise sites whose key is a variable, and where that variable's values are written.
DYNAMIC_KEYS = {
    "key": _string_arguments("checked_in_range", 3, "key"),
    "self.entity_description.invalid_key": {
        value for _, call in _calls() if (value := _literal(_keyword(call, "invalid_key")))
    },
    "err.key": _string_arguments("SettingsError", 0, "key"),
}


def exception_uses() -> list[Use]:
    """Every exception raised with a translation (it has a translation_domain)."""
    uses = []
    for where, call in _calls():
        if _keyword(call, "translation_domain") is None:
            continue
        node = _keyword(call, "translation_key")
        given = _dict_keys(_keyword(call, "translation_placeholders"))
        key = _literal(node)
        keys = {key} if key is not None else DYNAMIC_KEYS[ast.unparse(node)]  # type: ignore[arg-type]
        assert keys, f"{where}: no key found for {ast.unparse(node)}"  # type: ignore[arg-type]
        uses += [Use(where, each, given) for each in keys]
    return uses


# Issue keys made from an enum's values, and those values.
DYNAMIC_ISSUE_KEYS = {
    "f'balancer_{reason.value}'": {f"balancer_{reason.value}" for reason in DriveRefusal},
}


def issue_uses() -> list[Use]:
    uses = []
    for where, call in _calls():
        if _name(call.func) == "async_create_issue":
            node = _keyword(call, "translation_key")
            key = _literal(node)
            keys = {key} if key is not None else DYNAMIC_ISSUE_KEYS[ast.unparse(node)]  # type: ignore[arg-type]
            given = _dict_keys(_keyword(call, "translation_placeholders"))
            uses += [Use(where, each, given) for each in keys]
    return uses


def test_every_exception_and_issue_has_its_text() -> None:
    exceptions, issues = exception_uses(), issue_uses()
    assert exceptions and issues
    missing = [
        f"{use.where}: exceptions.{use.key}"
        for use in exceptions
        if use.key not in EN["exceptions"]
    ]
    missing += [f"{use.where}: issues.{use.key}" for use in issues if use.key not in EN["issues"]]
    assert missing == []


def test_placeholders_match_what_the_code_passes() -> None:
    texts = {
        **{("exceptions", k): v["message"] for k, v in EN["exceptions"].items()},
        **{
            ("issues", k): v["title"] + " " + v.get("description", "")
            for k, v in EN["issues"].items()
        },
    }
    wrong = []
    for section, uses in (("exceptions", exception_uses()), ("issues", issue_uses())):
        for use in uses:
            text = texts.get((section, use.key))
            if text is None or use.placeholders is None:
                continue  # missing (another test says so), or not a literal dict
            if placeholders(text) != use.placeholders:
                wrong.append(
                    f"{use.where}: {section}.{use.key} uses {sorted(placeholders(text))}, "
                    f"gets {sorted(use.placeholders)}"
                )
    assert wrong == []


# ------------------------------------------------------------------------ the flows
FLOW_SOURCE = ast.parse((INTEGRATION / "config_flow.py").read_text())
FLOWS = {"ConfigFlow": "config", "OptionsFlow": "options"}


def _functions_reached(roots: list[ast.AST]) -> list[ast.AST]:
    """The roots and every module-level function they call, directly or not."""
    module_functions = {
        node.name: node
        for node in FLOW_SOURCE.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    reached, todo = list(roots), list(roots)
    while todo:
        for node in ast.walk(todo.pop()):
            called = module_functions.get(_name(node.func)) if isinstance(node, ast.Call) else None
            if called is not None and called not in reached:
                reached.append(called)
                todo.append(called)
    return reached


def flow_uses() -> dict[str, dict[str, list[Use]]]:
    """Per flow (config, options): the steps, errors and aborts its code can produce."""
    uses: dict[str, dict[str, list[Use]]] = {}
    for node in FLOW_SOURCE.body:
        if not isinstance(node, ast.ClassDef):
            continue
        flow = next((FLOWS[_name(base)] for base in node.bases if _name(base) in FLOWS), None)
        if flow is None:
            continue
        found: dict[str, list[Use]] = {"step": [], "error": [], "abort": []}
        for function in _functions_reached([node]):
            for inner in ast.walk(function):
                where = f"config_flow.py:{getattr(inner, 'lineno', '?')}"
                if (
                    isinstance(inner, ast.Dict)
                    and inner.values
                    and all(_literal(value) for value in inner.values)
                ):
                    # {"base": "cannot_connect"}, {CONF_PORTAL_ID: "portal_not_found"}
                    found["error"] += [Use(where, str(_literal(v)), None) for v in inner.values]
                if not isinstance(inner, ast.Call):
                    continue
                called = _name(inner.func)
                if called == "async_show_form":
                    step = _literal(_keyword(inner, "step_id"))
                    assert step is not None, where
                    given = _dict_keys(_keyword(inner, "description_placeholders"))
                    found["step"].append(Use(where, step, given))
                elif (reason := _literal(_keyword(inner, "reason"))) is not None:
                    found["abort"].append(Use(where, reason, None))
                elif called == "_abort_if_unique_id_configured":
                    found["abort"].append(Use(where, "already_configured", None))
                elif called == "async_update_reload_and_abort":
                    found["abort"] += [
                        Use(where, reason, None)
                        for reason in ("reauth_successful", "reconfigure_successful")
                    ]
        uses[flow] = found
    return uses


def test_every_step_error_and_abort_has_its_text() -> None:
    uses = flow_uses()
    assert set(uses) == {"config", "options"}
    missing = [
        f"{use.where}: {flow}.{kind}.{use.key}"
        for flow, kinds in uses.items()
        for kind, found in kinds.items()
        for use in found
        if use.key not in EN[flow].get(kind, {})
    ]
    assert missing == []


def test_step_placeholders_match_what_the_code_passes() -> None:
    wrong = []
    for flow, kinds in flow_uses().items():
        for use in kinds["step"]:
            step = EN[flow]["step"][use.key]
            used = placeholders(step.get("title", "")) | placeholders(step.get("description", ""))
            if use.placeholders is not None and used != use.placeholders:
                wrong.append(
                    f"{use.where}: {flow}.step.{use.key} uses {sorted(used)}, "
                    f"gets {sorted(use.placeholders)}"
                )
    assert wrong == []


def test_the_rules_catch_what_hassfest_rejects() -> None:
    """The checks above can fail: the strings hassfest turned down, and a few more."""
    assert problems_of("no N/<portal id>/system/0/Serial")  # the old no_venus_found
    assert problems_of("see https://example.com/help")
    assert problems_of("'{host}' refused")
    assert problems_of(" padded")
    assert problems_of("{0} is not an identifier")
    assert problems_of("{cell} in a state", placeholders_allowed=False)
    assert problems_of("no N/{portal_id}/system/0/Serial") == []
