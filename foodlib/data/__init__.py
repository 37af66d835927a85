"""Data: sources (hub, archive, synthetic) -> FoodImages -> prepared cache -> loaders."""
