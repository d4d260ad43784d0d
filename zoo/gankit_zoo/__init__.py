"""The gankit model zoo: ``catalogue.json`` and the artifacts shipped with gankit.

Data only; :mod:`gankit.hub` reads it (``gankit zoo list``,
``gankit.load_generator("zoo:NAME")``). See docs/zoo.md.
"""
