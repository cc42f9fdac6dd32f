"""Publishing the marts for BI tools: a complete, audited copy swapped in whole."""
