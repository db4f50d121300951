"""The timeout service: no run stays CANCELLING past its deadline."""
