"""reelfix inside DaVinci Resolve: restore timeline clips with the reelfix core, bring them back as takes.

Stdlib only, Python 3.6+ (Resolve's own Python). Modules:

* `conventions` - every unverified Resolve API convention, as switches with documented defaults;
* `connect`     - reaching a running Resolve from outside (`DaVinciResolveScript.scriptapp`);
* `media`       - a media pool clip's movie or image sequence on disk;
* `clips`       - which items, which source frames of their original media (+handles, clamped);
* `core`        - finding and running the reelfix core in its own process, with progress;
* `restore`     - the whole job: run, import into the bin, then `place` the results;
* `place`       - takes or a new track, each read back and corrected; markers found again by custom data;
* `dialog`      - the menu script's dialog (Fusion UIManager);
* `settings`    - the menu script's options without a dialog (free Resolve 19.1+: a file beside the script);
* `cli`         - `python -m reelfix_resolve restore ...` for automation.
"""

__version__ = "0.1.0"
