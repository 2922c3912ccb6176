// The Datasets module of Turritopsis; see docs/ARCHITECTURE.md.
