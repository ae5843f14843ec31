"""Coverage-guided fuzzing (atheris) of every capture reader, protocol parser and decoder: ``make fuzz``."""
