// The Continual module of Turritopsis; see docs/ARCHITECTURE.md.
