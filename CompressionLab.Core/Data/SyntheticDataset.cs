namespace CompressionLab.Core.Data;

/// <summary>
/// A 10-class dataset of 28×28 stroke drawings generated in code: the embedded default, so a first run works
/// with no files installed. Each class is a shape (bars, diagonals, crosses, ring, square, disc) drawn
/// anti-aliased with random position, size, tilt, stroke width and brightness, over background noise and,
/// in half of the images, a faint stray stroke. That makes it learnable by the zoo's models but not by
/// matching pixels: a nearest-class-mean classifier gets only part of it right.
/// The same seed gives byte-identical images on every machine (integer generator, no trigonometry).
/// </summary>
public static class SyntheticDataset
{
    public const string Name = "synthetic";
    public const int DefaultSeed = 1;
    public const int DefaultTrainCount = 12_000;
    public const int DefaultTestCount = 2_000;
    public const int ImageSize = 28;

    /// <summary>The classes, in label order; each name says what is drawn.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["horizontal bar", "vertical bar", "falling diagonal", "rising diagonal", "plus", "x-cross", "ring", "square outline", "disc", "two bars"];

    public static string Describe(int seed) => $"generated in code (synthetic shapes, seed {seed})";

    /// <summary>Generates the train and test parts; labels are balanced (class counts differ by at most one).</summary>
    public static Dataset Generate(int seed = DefaultSeed, int trainCount = DefaultTrainCount, int testCount = DefaultTestCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trainCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(testCount);
        // Independent streams per part, so changing the train size leaves the test images unchanged.
        var streams = new SeededRandom(seed);
        var train = GeneratePart($"{Name}/train", new SeededRandom((long)streams.NextUInt64()), trainCount);
        var test = GeneratePart($"{Name}/test", new SeededRandom((long)streams.NextUInt64()), testCount);
        return new Dataset(Name, train, test, IsSynthetic: true, Source: Describe(seed));
    }

    private static LabeledImages GeneratePart(string name, SeededRandom random, int count)
    {
        var labels = new byte[count];
        for (var i = 0; i < count; i++) labels[i] = (byte)(i % ClassNames.Count);
        random.Shuffle(labels.AsSpan());
        var pixels = new byte[count * ImageSize * ImageSize];
        var canvas = new float[ImageSize * ImageSize];
        for (var i = 0; i < count; i++)
        {
            Draw(labels[i], random, canvas);
            var image = pixels.AsSpan(i * canvas.Length, canvas.Length);
            for (var p = 0; p < canvas.Length; p++)
                image[p] = (byte)(Math.Clamp(canvas[p], 0f, 1f) * 255f + 0.5f);
        }
        return new LabeledImages(name, pixels, labels, ImageSize, ImageSize, ClassNames);
    }

    private readonly record struct Segment(float X0, float Y0, float X1, float Y1);

    private readonly record struct Circle(float X, float Y, float Radius, bool Filled);

    private static void Draw(int label, SeededRandom random, float[] canvas)
    {
        const float mid = (ImageSize - 1) / 2f;
        var cx = mid + random.NextSingle(-4f, 4f);
        var cy = mid + random.NextSingle(-4f, 4f);
        var size = random.NextSingle(6f, 9.5f);
        var width = random.NextSingle(1.5f, 3.5f);
        var brightness = random.NextSingle(0.6f, 1f);
        // A tilt of up to about ±15°: the unit vector (1, t) normalised, so no sin/cos is needed.
        var tilt = random.NextSingle(-0.27f, 0.27f);
        var norm = MathF.Sqrt(1 + (tilt * tilt));
        var (cos, sin) = (1 / norm, tilt / norm);

        (float X, float Y) Place(float u, float v) => (cx + (size * ((cos * u) - (sin * v))), cy + (size * ((sin * u) + (cos * v))));
        Segment Line(float u0, float v0, float u1, float v1)
        {
            var (x0, y0) = Place(u0, v0);
            var (x1, y1) = Place(u1, v1);
            return new Segment(x0, y0, x1, y1);
        }

        const float d = 0.75f;
        Segment[] segments = label switch
        {
            0 => [Line(-1, 0, 1, 0)],
            1 => [Line(0, -1, 0, 1)],
            2 => [Line(-d, -d, d, d)],
            3 => [Line(-d, d, d, -d)],
            4 => [Line(-1, 0, 1, 0), Line(0, -1, 0, 1)],
            5 => [Line(-d, -d, d, d), Line(-d, d, d, -d)],
            7 => [Line(-d, -d, d, -d), Line(d, -d, d, d), Line(d, d, -d, d), Line(-d, d, -d, -d)],
            9 => [Line(-1, -0.45f, 1, -0.45f), Line(-1, 0.45f, 1, 0.45f)],
            _ => [],
        };
        Circle? circle = label switch
        {
            6 => new Circle(cx, cy, size * 0.8f, Filled: false),
            8 => new Circle(cx, cy, size * 0.5f, Filled: true),
            _ => null,
        };

        Segment? stray = null;
        if (random.NextInt(2) == 0)
        {
            var (sx, sy) = (random.NextSingle(2f, ImageSize - 3f), random.NextSingle(2f, ImageSize - 3f));
            stray = new Segment(sx, sy, sx + random.NextSingle(-5f, 5f), sy + random.NextSingle(-5f, 5f));
        }
        var strayBrightness = random.NextSingle(0.25f, 0.5f);
        var noise = random.NextSingle(0.02f, 0.2f);

        // Only pixels near a stroke need distances; the rest is background noise.
        var (x0, y0, x1, y1) = Bounds(segments, circle, margin: (width / 2) + 1);
        var (sx0, sy0, sx1, sy1) = stray is { } st0 ? Bounds([st0], null, margin: 2) : (0, 0, -1, -1);
        for (var y = 0; y < ImageSize; y++)
        {
            for (var x = 0; x < ImageSize; x++)
            {
                var value = 0f;
                if (x >= x0 && x <= x1 && y >= y0 && y <= y1)
                {
                    var squared = float.MaxValue;
                    foreach (var s in segments) squared = MathF.Min(squared, DistanceSquaredToSegment(x, y, s));
                    var distance = MathF.Sqrt(squared);
                    if (circle is { } c)
                    {
                        var r = MathF.Sqrt(((x - c.X) * (x - c.X)) + ((y - c.Y) * (y - c.Y)));
                        distance = MathF.Min(distance, c.Filled ? MathF.Max(0, r - c.Radius) : MathF.Abs(r - c.Radius));
                    }
                    value = brightness * Coverage(distance, width);
                }
                if (stray is { } st && x >= sx0 && x <= sx1 && y >= sy0 && y <= sy1)
                    value = MathF.Max(value, strayBrightness * Coverage(MathF.Sqrt(DistanceSquaredToSegment(x, y, st)), 1.5f));
                canvas[(y * ImageSize) + x] = value + (noise * random.NextSingle());
            }
        }
    }

    /// <summary>The pixel rectangle (inclusive) that holds every point within <paramref name="margin"/> of the shapes.</summary>
    private static (int X0, int Y0, int X1, int Y1) Bounds(Segment[] segments, Circle? circle, float margin)
    {
        var (minX, minY, maxX, maxY) = (float.MaxValue, float.MaxValue, float.MinValue, float.MinValue);
        foreach (var s in segments)
        {
            (minX, maxX) = (MathF.Min(minX, MathF.Min(s.X0, s.X1)), MathF.Max(maxX, MathF.Max(s.X0, s.X1)));
            (minY, maxY) = (MathF.Min(minY, MathF.Min(s.Y0, s.Y1)), MathF.Max(maxY, MathF.Max(s.Y0, s.Y1)));
        }
        if (circle is { } c)
        {
            (minX, maxX) = (MathF.Min(minX, c.X - c.Radius), MathF.Max(maxX, c.X + c.Radius));
            (minY, maxY) = (MathF.Min(minY, c.Y - c.Radius), MathF.Max(maxY, c.Y + c.Radius));
        }
        return ((int)MathF.Floor(minX - margin), (int)MathF.Floor(minY - margin), (int)MathF.Ceiling(maxX + margin), (int)MathF.Ceiling(maxY + margin));
    }

    /// <summary>How much of a pixel a stroke of <paramref name="width"/> covers, with a one-pixel soft edge.</summary>
    private static float Coverage(float distance, float width) => Math.Clamp((width / 2) - distance + 0.5f, 0f, 1f);

    private static float DistanceSquaredToSegment(float x, float y, Segment s)
    {
        var (dx, dy) = (s.X1 - s.X0, s.Y1 - s.Y0);
        var lengthSquared = (dx * dx) + (dy * dy);
        var t = lengthSquared == 0 ? 0 : Math.Clamp((((x - s.X0) * dx) + ((y - s.Y0) * dy)) / lengthSquared, 0f, 1f);
        var (px, py) = (s.X0 + (t * dx) - x, s.Y0 + (t * dy) - y);
        return (px * px) + (py * py);
    }
}
