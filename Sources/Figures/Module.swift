// The Figures module of Turritopsis; see docs/ARCHITECTURE.md.
