"""Azure Resource Graph (``POST /providers/Microsoft.ResourceGraph/resources``), for the queries azbackup-fix sends."""
