"""A KQL interpreter for the subset Resource Graph users write: :func:`.parser.parse` text to a syntax tree
(:mod:`.nodes`), :func:`.evaluate.evaluate` it over tables; :class:`.errors.KqlError` for anything else."""
