"""Model backends: Ollama (what users run) and embedded llama.cpp (what a fresh machine runs)."""
