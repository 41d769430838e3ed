"""tipbench: which small local LLM and which prompt write the best short tips, with evidence."""

__version__ = "0.1.0"
