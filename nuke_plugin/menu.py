# reelfix: Nodes > Restore, built from the core's node declarations (GUI sessions only).
import reelfix_nuke

reelfix_nuke.build_menu()
