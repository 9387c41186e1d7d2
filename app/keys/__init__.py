from app.keys.routes import bp

__all__ = ["bp"]
