from app.usage.routes import bp

__all__ = ["bp"]
