"""Pipeline specs: typed models (`models`), the YAML loader and the built-in streams
(`loader`), and validation (`validation`).

Nothing is imported here: a module that needs only the models (as the decoding in Spark's
Python workers does) does not load YAML, sqlglot and the validator with them."""
