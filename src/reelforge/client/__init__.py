"""Reelforge's Python SDK for the xAI video REST API: `Client` and `AsyncClient`.

```python
from reelforge import Client

with Client(base_url="http://127.0.0.1:8000", api_key="any-key") as client:
    video = client.video.generate("a red ball bouncing on a beach", duration=4)
    video.download("ball.mp4")
```
"""

from reelforge.client._async import AsyncClient, AsyncModels, AsyncVideos
from reelforge.client._flows import INLINE_LIMIT
from reelforge.client._sync import Client, Models, Videos
from reelforge.client.errors import (
    ApiConnectionError,
    ApiError,
    ReelforgeError,
    VideoError,
    VideoExpiredError,
    VideoFailedError,
    VideoModeratedError,
    VideoTimeoutError,
)
from reelforge.client.types import (
    AsyncVideo,
    Keyframe,
    Model,
    ReferenceAudio,
    Video,
    VideoPage,
)

__all__ = [
    "INLINE_LIMIT",
    "ApiConnectionError",
    "ApiError",
    "AsyncClient",
    "AsyncModels",
    "AsyncVideo",
    "AsyncVideos",
    "Client",
    "Keyframe",
    "Model",
    "Models",
    "ReelforgeError",
    "ReferenceAudio",
    "Video",
    "VideoError",
    "VideoExpiredError",
    "VideoFailedError",
    "VideoModeratedError",
    "VideoPage",
    "VideoTimeoutError",
    "Videos",
]
