"""Azure Resource Graph (``POST /providers/Microsoft.ResourceGraph/resources``): a KQL interpreter (:mod:`.kql`)
over tables built from the sandbox's live state (:mod:`.tables`)."""
