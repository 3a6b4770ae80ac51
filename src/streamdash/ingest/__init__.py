"""Getting events in: the HTTP API (`app.create_app`), bulk validation against a stream's
schema (`validate`), the Sensor Logger adapter (`sensorlogger`), group commit to the log
(`appender`) and the ingest metrics (`metrics`). Kept import-light: import the submodule."""
