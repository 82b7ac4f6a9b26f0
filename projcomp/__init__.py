"""The projcomp command line and its reports."""
