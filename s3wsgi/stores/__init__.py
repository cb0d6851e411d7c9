"""Reading S3: the store protocol, the boto3 and obstore stores, the cache."""
