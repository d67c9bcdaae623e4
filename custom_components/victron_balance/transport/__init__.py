"""Broker connections: an MQTT session per broker and the Venus OS link on top of it.

No Home Assistant imports here either; the config entry owns these objects.
"""
