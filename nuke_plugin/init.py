# reelfix: runs at every Nuke start, also `nuke -t` and farm renders, so no UI here.
# Nuke puts this folder on sys.path; the logic is in reelfix_nuke/ (see docs/nuke.md).
import reelfix_nuke

reelfix_nuke.register()  # onScriptLoad: nodes from an older plugin made safe for batch renders
