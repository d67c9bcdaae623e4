"""Draw the integration's brand images (HACS/HA brands): `python scripts/draw_brand.py`.

A battery of four cells with level bars, one of them marked as balancing, in Victron's
blue. Written to custom_components/victron_balance/brand/: icon.png (256), icon@2x.png
(512), logo.png and logo@2x.png (icon plus the name).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "custom_components" / "victron_balance" / "brand"
BLUE = (0, 94, 184, 255)
LIGHT = (79, 176, 255, 255)
AMBER = (255, 176, 32, 255)
CLEAR = (0, 0, 0, 0)
LEVELS = (0.72, 0.86, 0.64, 0.78)  # the cells' bars, one balancing (amber)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def draw_icon(size: int) -> Image.Image:
    """The square icon at `size` pixels (drawn at 4x and scaled down for smooth edges)."""
    scale = 4
    big = size * scale
    image = Image.new("RGBA", (big, big), CLEAR)
    draw = ImageDraw.Draw(image)
    unit = big / 256
    line = round(14 * unit)
    body = (round(28 * unit), round(52 * unit), round(228 * unit), round(232 * unit))
    draw.rounded_rectangle(body, radius=round(26 * unit), outline=BLUE, width=line)
    terminal = (round(100 * unit), round(24 * unit), round(156 * unit), round(52 * unit))
    draw.rounded_rectangle(terminal, radius=round(8 * unit), fill=BLUE)
    inner_left, inner_top = body[0] + line + round(12 * unit), body[1] + line + round(12 * unit)
    inner_right, inner_bottom = body[2] - line - round(12 * unit), body[3] - line - round(12 * unit)
    gap = round(10 * unit)
    width = (inner_right - inner_left - gap * (len(LEVELS) - 1)) / len(LEVELS)
    for index, level in enumerate(LEVELS):
        left = inner_left + index * (width + gap)
        top = inner_bottom - (inner_bottom - inner_top) * level
        colour = AMBER if index == 2 else LIGHT
        box = (round(left), round(top), round(left + width), inner_bottom)
        draw.rounded_rectangle(box, radius=round(6 * unit), fill=colour)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def draw_logo(height: int) -> Image.Image:
    """The icon with the name beside it, on a transparent background."""
    icon = draw_icon(height)
    font = ImageFont.truetype(FONT, round(height * 0.34))
    text = "Victron Balance"
    left, top, right, bottom = font.getbbox(text)
    width = height + round(height * 0.12) + (right - left) + round(height * 0.08)
    logo = Image.new("RGBA", (width, height), CLEAR)
    logo.alpha_composite(icon, (0, 0))
    draw = ImageDraw.Draw(logo)
    x = height + round(height * 0.12) - left
    y = (height - (bottom - top)) // 2 - top
    draw.text((x, y), text, font=font, fill=BLUE)
    return logo


def main() -> None:
    """Write the four images."""
    OUT.mkdir(parents=True, exist_ok=True)
    draw_icon(256).save(OUT / "icon.png", optimize=True)
    draw_icon(512).save(OUT / "icon@2x.png", optimize=True)
    draw_logo(128).save(OUT / "logo.png", optimize=True)
    draw_logo(256).save(OUT / "logo@2x.png", optimize=True)


if __name__ == "__main__":
    main()
