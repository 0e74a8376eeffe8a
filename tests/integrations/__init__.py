"""Scale-out: Beam, Ray and the Redis-shared rate limit, against the emulator."""
