"""Messages: email and SMS deliveries, tracked links and the tracking log, triggers.

Above sharing (triggers decrypt through shared data sources), below workflows.
"""
