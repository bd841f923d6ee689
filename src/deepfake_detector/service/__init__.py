"""The web service: Flask app (pages + REST API), SQLite/SQLAlchemy storage, huey job queue.

Start it with ``deepfake-detector serve``; build it in code with
:func:`deepfake_detector.service.app.create_app`.
"""
