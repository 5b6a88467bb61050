"""Task data: loaders, answer parsing and gold scoring for ARC grids and math answers, used by the domains."""
