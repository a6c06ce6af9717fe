"""``refsde validate --report FILE.md [--plots DIR]``: :mod:`.markdown` writes the run as a markdown report
(machine, versions, the table of every check), :mod:`.figures` the figures computed on the validation
backend (matplotlib, the ``plot`` extra).  This file imports nothing.
"""
