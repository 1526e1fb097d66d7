"""`reelfix farm ...` (render-farm job files). Filled in by the farm work (issue 8)."""
