"""`csm report --html` and `csm account ID --html`: one self-contained page each."""
