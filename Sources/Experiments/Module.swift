// The Experiments module of Turritopsis; see docs/ARCHITECTURE.md.
