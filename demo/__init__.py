"""The one-command demo: broker, Venus OS simulator and Home Assistant, wired together."""
