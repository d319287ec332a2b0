"""What a person reads: the morning list, one account, the playbook report, the digest."""
