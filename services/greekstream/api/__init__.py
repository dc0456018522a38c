"""The historical analytics query service (`greekstream serve`): FastAPI over history."""
