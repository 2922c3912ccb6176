// The NeuralNet module of Turritopsis; see docs/ARCHITECTURE.md.
