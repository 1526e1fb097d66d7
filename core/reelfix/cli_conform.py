"""`reelfix conform ...` (OTIO timeline conform). Filled in by the Resolve/conform work (issue 7)."""
