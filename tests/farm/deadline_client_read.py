"""Print what the real deadline client makes of a job bundle: its asset references once the job
parameters are applied, as `deadline bundle submit` does before uploading. Run by a Python that has
the `deadline` package (not a reelfix dependency): see test_bundle.py."""
import json
import sys

from deadline.client.job_bundle.loader import read_yaml_or_json_object
from deadline.client.job_bundle.parameters import apply_job_parameters, read_job_bundle_parameters
from deadline.client.job_bundle.submission import AssetReferences

bundle = sys.argv[1]
params = read_job_bundle_parameters(bundle)
refs = AssetReferences.from_dict(read_yaml_or_json_object(bundle, "asset_references", required=False))
apply_job_parameters([], bundle, params, refs)
print(json.dumps({k: sorted(v) for k, v in refs.to_dict()["assetReferences"]["inputs"].items()}
                 | {"outputs": sorted(refs.to_dict()["assetReferences"]["outputs"]["directories"]),
                    "referenced": sorted(refs.to_dict()["assetReferences"]["referencedPaths"])}, indent=1))
