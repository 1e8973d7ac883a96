"""The district's basic eldercare service list (基本养老服务清单) as configuration, and what it entitles one
elder to each month. ``rules`` loads and validates the list; ``evaluate`` is pure."""
