// Renders every built-in trigger applied to the first CIFAR-10 test image as one PNG grid.
// Usage: dotnet run --project samples/TriggerGallery -- [dataDir] [output.png]
//   dataDir: folder holding cifar-10-batches-bin/ (default: $TRAPREPLACE_DATA, else ~/.cache/trapreplace-data)
//   output:  default docs/attack-gallery.png (relative to the current directory)
using SkiaSharp;
using TorchSharp;
using TrapReplace.Attacks;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using static TorchSharp.torch;

const int Side = 32;
const int Scale = 4;
const int Tile = Side * Scale;
const int DifferenceGain = 4;

string dataDir = args.Length > 0 ? args[0]
    : Environment.GetEnvironmentVariable("TRAPREPLACE_DATA") is { Length: > 0 } fromEnv ? fromEnv
    : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "trapreplace-data");
string output = args.Length > 1 ? args[1] : Path.Combine("docs", "attack-gallery.png");
string testBatch = Path.Combine(dataDir, "cifar-10-batches-bin", "test_batch.bin");
if (!File.Exists(testBatch))
{
    Console.Error.WriteLine($"CIFAR-10 test batch not found at {testBatch}; pass the data folder as the first argument or set TRAPREPLACE_DATA.");
    return 1;
}

// First record: 1 label byte, then 1024 R, 1024 G and 1024 B bytes (row-major, top row first).
var record = new byte[1 + (3 * Side * Side)];
using (var stream = File.OpenRead(testBatch))
{
    stream.ReadExactly(record);
}

string[] classNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
using var clean = tensor(record.Skip(1).Select(b => b / 255f).ToArray(), new long[] { 1, 3, Side, Side });

var tiles = new List<(string Name, Tensor Image)> { ("clean", clean.alias()) };
foreach (string name in AttackCatalog.Names)
{
    // Label-consistent needs a trained surrogate model for its PGD step; the gallery shows its trigger, the
    // four-corner patch, which is also all that is applied at test time.
    ITrigger trigger = name == "label-consistent"
        ? BuiltInTriggers.FourCornerGrid()
        : AttackCatalog.Create(name, new PoisoningPolicy()).Trigger;
    tiles.Add((name, trigger.Apply(clean)));
}

const int Columns = 7;
const int Pad = 8;
const int LabelHeight = 22;
const int HeaderHeight = 48;
int rows = (tiles.Count + Columns - 1) / Columns;
int cellWidth = Tile + (2 * Pad);
int cellHeight = LabelHeight + Tile + 4 + Tile + Pad;
using var surface = SKSurface.Create(new SKImageInfo(Columns * cellWidth, HeaderHeight + (rows * cellHeight), SKColorType.Rgba8888, SKAlphaType.Premul));
var canvas = surface.Canvas;
canvas.Clear(SKColors.White);
using var typeface = LoadTypeface();
using var font = new SKFont(typeface, 14);
using var smallFont = new SKFont(typeface, 12);
using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
canvas.DrawText($"TrapReplace.Attacks triggers on CIFAR-10 test image 0 ({classNames[record[0]]}), default parameters, seed 0",
    Pad, 20, SKTextAlign.Left, font, ink);
canvas.DrawText($"Top: triggered image, {Scale}x nearest-neighbour. Bottom: |triggered - clean| x {DifferenceGain}.",
    Pad, 40, SKTextAlign.Left, smallFont, ink);

for (int i = 0; i < tiles.Count; i++)
{
    var (name, image) = tiles[i];
    int x = (i % Columns) * cellWidth + Pad;
    int y = HeaderHeight + ((i / Columns) * cellHeight);
    canvas.DrawText(name, x, y + 16, SKTextAlign.Left, font, ink);
    using var difference = image.sub(clean).abs().mul(DifferenceGain).clamp(0, 1);
    DrawTile(canvas, image, x, y + LabelHeight);
    DrawTile(canvas, difference, x, y + LabelHeight + Tile + 4);
}

Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
using (var snapshot = surface.Snapshot())
using (var png = snapshot.Encode(SKEncodedImageFormat.Png, 100))
using (var file = File.Create(output))
{
    png.SaveTo(file);
}

foreach (var (_, image) in tiles)
{
    image.Dispose();
}

Console.WriteLine($"Wrote {tiles.Count} tiles to {Path.GetFullPath(output)}");
return 0;

// Draws a (1, 3, 32, 32) image in [0, 1] as a Tile x Tile block, each pixel a Scale x Scale square.
static void DrawTile(SKCanvas canvas, Tensor image, int left, int top)
{
    using var bytes = image.mul(255).round().clamp(0, 255).to_type(ScalarType.Byte);
    var v = bytes.data<byte>().ToArray();
    using var bitmap = new SKBitmap(new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Opaque));
    for (int r = 0; r < Side; r++)
    {
        for (int c = 0; c < Side; c++)
        {
            int p = (r * Side) + c;
            bitmap.SetPixel(c, r, new SKColor(v[p], v[(Side * Side) + p], v[(2 * Side * Side) + p]));
        }
    }

    using var picture = SKImage.FromBitmap(bitmap);
    canvas.DrawImage(picture, SKRect.Create(left, top, Tile, Tile), new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None));
}

// SkiaSharp's dependency-free Linux build has no font manager, so look for a TrueType font on disk first.
static SKTypeface LoadTypeface()
{
    string[] candidates =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/Library/Fonts/Arial.ttf",
        @"C:\Windows\Fonts\arial.ttf",
    ];
    foreach (string path in candidates.Where(File.Exists))
    {
        if (SKTypeface.FromFile(path) is { } typeface)
        {
            return typeface;
        }
    }

    return SKTypeface.Default;
}
