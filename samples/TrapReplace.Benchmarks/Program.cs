// Throughput benchmark of the Trap-and-Replace stages on this machine. Run:
//   dotnet run -c Release --project samples/TrapReplace.Benchmarks -- [--threads 2] [--steps 30] [--device cpu] [--default-allocator] [--nchw] [--bf16] [--write FILE]
// --bf16 runs stage 1 under libtorch's CPU bf16 autocast (Precision.BFloat16). --default-allocator leaves glibc's malloc settings as they are (TorchRuntime.RetainNativeMemory = false), to measure
// what NativeHeap.RetainFreedMemory is worth; --nchw runs the standard layout instead of channels-last batches
// (ChannelsLast = false), to measure what MemoryLayout is worth. --write FILE also writes the table, with the
// command line, date and machine, to FILE (atomically: a run that fails leaves an existing FILE as it was).
// --kernel-check instead compares libtorch's float32 convolution kernels with float64 on this CPU (KernelCheck.cs)
// and exits 1 when one is wrong.
// It trains on synthetic 32x32 data through the real TrapTrainer / HeadReplacer / Evaluator code paths
// (data loading and augmentation included) and prints a Markdown table of median step times.
using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Runtime;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

int threads = Arg("--threads", 2);
int steps = Arg("--steps", 30);
var device = ComputeDevice.Parse(ArgString("--device", "cpu"));
bool defaultAllocator = args.Contains("--default-allocator");
bool channelsLast = !args.Contains("--nchw");
bool bf16 = args.Contains("--bf16");
string? writeTo = ArgString("--write", "") is { Length: > 0 } path ? Path.GetFullPath(path) : null;
var lines = new List<string>();
const int Warmup = 5;
if (args.Contains("--kernel-check"))
{
    TorchRuntime.Prepare(threads);
    return TrapReplace.Benchmarks.KernelCheck.Run(Console.WriteLine);
}
TorchRuntime.RetainNativeMemory = !defaultAllocator;
TorchRuntime.Prepare(threads);
string heap = defaultAllocator ? "C allocator defaults" : NativeHeap.RetainFreedMemory().Detail;

Emit($"TrapReplace throughput: TorchSharp {typeof(torch).Assembly.GetName().Version}, {threads} threads, device {device}, {Environment.ProcessorCount} logical CPUs; native heap: {heap}; layout {(channelsLast ? "channels-last" : "NCHW")}");
Emit("");
// Two statistics per row: images/s of the median step (robust to the shared machine's outliers) and images/s over
// all timed steps together (total images / total time: the statistic the PyTorch anchor script prints).
Emit("| measurement | batch | images/s (median step) | images/s (all steps) | ms/batch (median step) |");
Emit("|---|---|---|---|---|");

using var data = Synthetic((Warmup + steps) * 256, seed: 0);

// The data path alone: index, crop/flip augmentation, uint8 -> float.
{
    var loader = new BatchLoader(data, 256, shuffle: true, dropLast: true, Augmentation.Standard, seed: 1);
    var plan = loader.PlanEpoch(0);
    var seconds = new List<double>();
    for (int k = 0; k < plan.Length; k++)
    {
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        loader.Load(plan[k], 0, k);
        seconds.Add(clock.Elapsed.TotalSeconds);
    }
    ReportSteps("data path (load + augment)", 256, seconds.Skip(Warmup).ToArray());
}

foreach (var withReconstruction in new[] { false, true })
{
    var options = new TrapTrainerOptions
    {
        Epochs = 1, BatchSize = 256, Threads = threads, Device = device, ChannelsLast = channelsLast, Precision = bf16 ? Precision.BFloat16 : Precision.Float32,
        ReconstructionWeight = withReconstruction ? 10 : 0, TotalVariationWeight = withReconstruction ? 1 : 0,
    };
    var trainer = new TrapTrainer(options);
    var seconds = new List<double>();
    trainer.StepCompleted += (_, e) => seconds.Add(256 / e.ImagesPerSecond);
    using var network = trainer.Fit(new WideResNet16Backbone(10), data).Network;
    ReportSteps($"stage 1 step, WRN-16-1, {(withReconstruction ? "with" : "without")} reconstruction head", 256, seconds.Skip(Warmup).ToArray());
}

{
    using var trapped = new TrapTrainer(new TrapTrainerOptions { Epochs = 1, BatchSize = 256, Threads = threads, Device = device })
        .Fit(new WideResNet16Backbone(10), Synthetic(256 * 2, seed: 2)).Network;
    using var holdout = Synthetic(64 * (Warmup + steps), seed: 3);
    var replacer = new HeadReplacer(new HeadReplacerOptions { Epochs = 1, Threads = threads, Device = device, ChannelsLast = channelsLast, ValidationFraction = 0, Selection = HeadSelection.LastEpoch });
    var seconds = new List<double>();
    replacer.StepCompleted += (_, e) => seconds.Add(64 / e.ImagesPerSecond);
    using var defended = replacer.Fit(trapped, new WideResNet16Backbone(10), holdout).Network;
    ReportSteps("stage 2 step (frozen stem, CutMix, new head)", 64, seconds.Skip(Warmup).ToArray());

    using var test = Synthetic(10_000, seed: 4);
    Evaluator.Evaluate(defended, test, device: device.ToTorch(), channelsLast: channelsLast);
    var clock = Stopwatch.StartNew();
    Evaluator.Evaluate(defended, test, device: device.ToTorch(), channelsLast: channelsLast);
    double evaluation = 10_000 / clock.Elapsed.TotalSeconds;
    Emit(string.Create(CultureInfo.InvariantCulture, $"| evaluation (10,000 images) | 500 | {evaluation:F1} | {evaluation:F1} | {500_000 / evaluation:F1} |"));
}

if (writeTo is not null)
{
    var file = new List<string>
    {
        "# TrapReplace benchmark",
        "",
        $"Written by `trap-replace-bench {string.Join(' ', args)}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC ({Environment.OSVersion}, {Environment.ProcessorCount} logical CPUs, .NET {Environment.Version}).",
        "",
    };
    file.AddRange(lines);
    Directory.CreateDirectory(Path.GetDirectoryName(writeTo)!);
    var temporary = writeTo + ".tmp";
    File.WriteAllLines(temporary, file);
    File.Move(temporary, writeTo, overwrite: true);
    Console.WriteLine($"wrote {writeTo}");
}
return 0;

void Emit(string line)
{
    Console.WriteLine(line);
    lines.Add(line);
}

static ImageDataset Synthetic(int n, int seed)
{
    var random = new Random(seed);
    var pixels = new byte[n * 3 * 32 * 32];
    random.NextBytes(pixels);
    using var images = tensor(pixels, [n, 3, 32, 32], ScalarType.Byte);
    using var labels = tensor(Enumerable.Range(0, n).Select(i => (long)(i % 10)).ToArray());
    return ImageDataset.FromTensors(images, labels, Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray());
}

// Step times on a shared 2-core machine have outliers; the median step is the stable figure.
static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

void ReportSteps(string what, int batch, double[] stepSeconds)
{
    double median = Median(stepSeconds);
    Emit(string.Create(CultureInfo.InvariantCulture,
        $"| {what} | {batch} | {batch / median:F1} | {batch * stepSeconds.Length / stepSeconds.Sum():F1} | {1000 * median:F1} |"));
}

int Arg(string name, int fallback) => int.Parse(ArgString(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

string ArgString(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
