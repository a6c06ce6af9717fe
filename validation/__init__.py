"""The refsde validation suite (installed as ``refsde_validation``)."""
