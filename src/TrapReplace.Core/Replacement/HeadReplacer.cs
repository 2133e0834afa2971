using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Persistence;
using TrapReplace.Runtime;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Replacement;

/// <summary>The outcome of stage 2. <see cref="BackdoorDefenseResult.Network"/> is the defended network: a copy of the
/// trapped stem with the new head, no decoder, in eval mode (the caller owns it); <see cref="BackdoorDefenseResult.History"/>
/// has one record per epoch (validation accuracy included when a validation split is used). Disposing the result
/// disposes the network and the snapshots.</summary>
public sealed record HeadReplacementResult : BackdoorDefenseResult
{
    /// <summary>The epoch whose head was returned (counted from 0).</summary>
    public required int SelectedEpoch { get; init; }

    /// <summary>Validation accuracy of the returned head, when measured.</summary>
    public double? ValidationAccuracy { get; init; }

    /// <summary>Holdout images the head was trained on.</summary>
    public required int HoldoutTrainCount { get; init; }

    /// <summary>Holdout images kept for selection.</summary>
    public required int ValidationCount { get; init; }

    /// <summary>Indices (into the holdout) of the validation images the new head never trained on: clean reference
    /// images for the poison scan. Empty without a validation split.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> ValidationIndices { get; init; } = [];

    /// <summary>The heads of earlier epochs (<see cref="HeadReplacerOptions.HeadSnapshots"/>), in epoch order; empty
    /// unless asked for. They share <see cref="BackdoorDefenseResult.Network"/>'s stem; dispose them when done (<see cref="DisposeSnapshots"/>).</summary>
    [JsonIgnore]
    public IReadOnlyList<HeadSnapshot> Snapshots { get; init; } = [];

    /// <summary>Where stage 2 ran (device, threads, layout): what a scan of this result runs on unless told otherwise.</summary>
    [JsonIgnore]
    internal HeadReplacerOptions? Options { get; init; }

    /// <summary>Frees the snapshots' tensors (the network is not touched).</summary>
    public void DisposeSnapshots()
    {
        foreach (var snapshot in Snapshots) snapshot.Dispose();
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        DisposeSnapshots();
        base.Dispose();
    }
}

/// <summary>The new head's weights and BatchNorm statistics after one stage-2 epoch.</summary>
/// <param name="Epoch">The epoch (counted from 0).</param>
/// <param name="ValidationAccuracy">Its validation accuracy, when measured.</param>
/// <param name="State">The head's state dictionary (copies, on the network's device).</param>
public sealed record HeadSnapshot(int Epoch, double? ValidationAccuracy, IReadOnlyDictionary<string, Tensor> State) : IDisposable
{
    /// <summary>Loads this head into <paramref name="network"/>'s head (same architecture).</summary>
    public void LoadInto(TrapNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        using var noGrad = no_grad();
        foreach (var (name, value) in network.Head.Module.state_dict())
        {
            if (!State.TryGetValue(name, out var stored) || !stored.shape.SequenceEqual(value.shape))
                throw new ArgumentException($"the snapshot of epoch {Epoch + 1} does not fit this head (entry '{name}')", nameof(network));
            value.copy_(stored);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in State.Values) t.Dispose();
    }
}

/// <summary>
/// Stage 2, "remove and patch": throws the trapped classification head and the decoder away and
/// trains a fresh, randomly initialised head of the same architecture on the clean holdout with
/// the stem frozen (no gradients, eval mode so BatchNorm statistics do not move).
/// </summary>
/// <remarks>Wang et al., "Trap and Replace", NeurIPS 2022.</remarks>
public sealed class HeadReplacer : IBackdoorDefense<HeadReplacementResult>
{
    /// <summary>Checkpoint of the last epoch.</summary>
    public const string CheckpointFileName = "replace.ckpt";

    /// <summary>The best head so far (best-validation selection).</summary>
    public const string BestCheckpointFileName = "replace-best.ckpt";

    private const string Stage = "replace";
    private const string SnapshotStage = "replace-snapshot";

    /// <summary>The head kept for snapshot epoch <paramref name="epoch"/> (0-based), beside <see cref="CheckpointFileName"/>:
    /// a resumed stage 2 reads back the snapshots taken before the interruption, so it returns every one an
    /// uninterrupted run would (the scans that read them give the same suspects).</summary>
    internal static string SnapshotFileName(int epoch) => $"replace-snapshot-{epoch:D4}.ckpt";
    private readonly HeadReplacerOptions options;
    private readonly ILogger logger;

    /// <summary>Creates a replacer; the options are validated and copied.</summary>
    public HeadReplacer(HeadReplacerOptions options, ILogger<HeadReplacer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger ?? NullLogger<HeadReplacer>.Instance;
    }

    /// <summary>
    /// Optional label-free estimate of attack success, called on the network after every epoch (in eval mode) and
    /// recorded as <see cref="EpochRecord.EstimatedAttackSuccess"/>; used by
    /// <see cref="HeadSelection.BestValidationMinusEstimatedAttack"/>. See <see cref="Scanning.PoisonScanner.EstimateAttackSuccess"/>
    /// and <see cref="Scanning.PoisonScanner.EstimateBackdoorPull(TorchSharp.torch.nn.Module{TorchSharp.torch.Tensor, TorchSharp.torch.Tensor}, Data.ImageDataset, Scanning.PoisonScanResult, TorchSharp.torch.Device?, bool, Scanning.PullScope)"/>.
    /// </summary>
    public Func<TrapNetwork, double?>? AttackSuccessEstimator { get; init; }

    /// <summary>Raised after every optimisation step.</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch.</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <summary>The options in use (a copy).</summary>
    public HeadReplacerOptions Options => options.Clone();

    /// <summary>The network stage 2 starts from before the trapped stem is copied in: a stem and a fresh head (with
    /// dropout), built in that order from <see cref="TrainingRuntime.ModelSeed"/>.</summary>
    internal static TrapNetwork CreateNetwork(IBackbone backbone, HeadReplacerOptions options) =>
        ModelSeed.Build(options.ModelSeed, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(options.Dropout), null) { Backbone = backbone });

    /// <inheritdoc />
    public string Name => "replace-head";

    /// <summary>Replaces the head of <see cref="DefenseData.Model"/> (a stage-1 network, or any network of this library
    /// for the replace-only ablation) using <see cref="DefenseData.CleanHoldout"/>.</summary>
    /// <param name="data">The network (it knows its backbone) and the clean holdout.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public HeadReplacementResult Fit(DefenseData data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Fit(data.Require(data.Model, nameof(data.Model), Name), data.Require(data.CleanHoldout, nameof(data.CleanHoldout), Name), cancellationToken);
    }

    /// <summary>Replaces the head of <paramref name="trapped"/> (built by this library, so it knows its
    /// <see cref="TrapNetwork.Backbone"/>) using the clean <paramref name="holdout"/>.</summary>
    /// <param name="trapped">The stage-1 network; it is not modified.</param>
    /// <param name="holdout">Clean, trusted images (a few percent of the training set).</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException"><paramref name="trapped"/> was composed without its backbone.</exception>
    public HeadReplacementResult Fit(TrapNetwork trapped, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        return Fit(trapped, trapped.RequireBackbone(nameof(trapped)), holdout, cancellationToken);
    }

    /// <summary>Replaces the head of <paramref name="trapped"/> using the clean <paramref name="holdout"/>.</summary>
    /// <param name="trapped">The stage-1 network; it is not modified.</param>
    /// <param name="backbone">The backbone <paramref name="trapped"/> was built from (to build the new head and a stem copy).</param>
    /// <param name="holdout">Clean, trusted images (a few percent of the training set).</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public HeadReplacementResult Fit(TrapNetwork trapped, IBackbone backbone, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(holdout);
        if (HoldoutProblems(backbone, holdout, options) is { Count: > 0 } problems)
            throw new ArgumentException(string.Join("; ", problems), nameof(holdout));
        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        var total = Stopwatch.StartNew();

        // A copy of the stem, so the defended network and the trapped one are independent objects.
        var network = CreateNetwork(backbone, options);
        NetworkState.Copy(trapped.Stem.Module, network.Stem.Module, "stem");
        network.to(device);
        var stem = network.Stem.Module;
        var head = network.Head.Module;
        foreach (var p in stem.parameters()) p.requires_grad = false;

        ImageDataset trainPart, validation;
        IReadOnlyList<int> validationIndices = [];
        if (options.ValidationFraction > 0)
        {
            var split = options.ValidationSplit(holdout);
            (trainPart, validation) = split.Apply(holdout);
            validationIndices = split.HoldoutIndices;
        }
        else
        {
            trainPart = holdout.Subset(Enumerable.Range(0, holdout.Count).ToArray());
            validation = holdout.Subset([]);
        }
        using var trainData = trainPart;
        using var validationData = validation;

        using var optimizer = Optimization.Create(options.Optimizer, head.parameters(), options.LearningRate, options.WeightDecay, options.Momentum);
        var loader = new BatchLoader(trainData, options.BatchSize, shuffle: true, dropLast: false,
            new Augmentation { Padding = options.CropPadding, HorizontalFlip = options.HorizontalFlip }, options.DataSeed);

        var optionsJson = Checkpoint.Identity(options, o => { var copy = o.Clone(); copy.CheckpointDirectory = null; copy.Resume = true; return copy; });
        string? checkpointPath = options.CheckpointDirectory is null ? null : Path.Combine(options.CheckpointDirectory, CheckpointFileName);
        string? bestPath = options.CheckpointDirectory is null ? null : Path.Combine(options.CheckpointDirectory, BestCheckpointFileName);
        var history = new List<EpochRecord>();
        int startEpoch = 0;
        double? bestAccuracy = null, bestScore = null;
        int bestEpoch = -1;
        Dictionary<string, Tensor>? bestHead = null;
        var snapshotEpochs = options.SnapshotEpochs();
        var snapshots = new List<HeadSnapshot>();
        if (checkpointPath is not null && options.Resume)
            snapshots = ResumedSnapshots(checkpointPath, snapshotEpochs, backbone, optionsJson, device);
        CheckpointHeader? resumedHeader;
        try
        {
            resumedHeader = Checkpoint.TryResume(checkpointPath, options.Resume, Stage, optionsJson, network, optimizer, logger);
        }
        catch
        {
            foreach (var snapshot in snapshots) snapshot.Dispose();
            throw;
        }
        if (resumedHeader is null && snapshots.Count > 0)
        {
            // The checkpoint was moved aside after all (non-finite weights): stage 2 starts again, and takes its own snapshots.
            foreach (var snapshot in snapshots) snapshot.Dispose();
            snapshots = [];
        }
        if (resumedHeader is { } header)
        {
            history.AddRange(header.History);
            startEpoch = header.CompletedEpochs;
            bestAccuracy = header.BestValidationAccuracy;
            bestEpoch = header.BestEpoch ?? -1;
            // The selection score of the best epoch so far, recomputed from its record.
            if (history.FirstOrDefault(h => h.Epoch == bestEpoch) is { } best)
                bestScore = options.Selection == HeadSelection.BestValidationMinusEstimatedAttack
                    ? best.ValidationAccuracy - (best.EstimatedAttackSuccess ?? 0)
                    : best.ValidationAccuracy;
            if (bestPath is not null && File.Exists(bestPath))
            {
                try
                {
                    bestHead = LoadHeadState(bestPath, backbone, device, options.Dropout, wholeNetwork: true);
                }
                catch (ModelFormatException e)
                {
                    // A damaged best-head file is not trusted: selection starts over from the resumed epoch.
                    var aside = bestPath + ".damaged";
                    File.Move(bestPath, aside, overwrite: true);
                    TrainingLog.DamagedCheckpoint(logger, Stage + "-best", bestPath, e.Problem, aside);
                    (bestAccuracy, bestScore, bestEpoch) = (null, null, -1);
                }
            }
            TrainingLog.Resumed(logger, Stage, checkpointPath!, startEpoch);
        }

        try
        {
            new EpochLoop
            {
                Runner = new EpochRunner
                {
                    Stage = Stage, Logger = logger, Device = device, ModelSeed = options.ModelSeed, DataSeed = options.DataSeed,
                    ChannelsLast = options.ChannelsLast, CheckpointPath = checkpointPath,
                    StepCompleted = e => StepCompleted?.Invoke(this, e),
                },
                Optimizer = optimizer,
                Loader = loader,
                Network = network,
                Epochs = options.Epochs,
                LearningRate = epoch => Optimization.CosineLearningRate(options.LearningRate, epoch, options.Epochs),
                BeginEpoch = _ =>
                {
                    // Only the head trains; the frozen stem stays in eval mode so its BatchNorm statistics do not move.
                    network.Stem.Module.eval();
                    network.Head.Module.train();
                },
                Step = (images, labels, epoch, step) => Step(network, images, labels, epoch, step),
                EndEpoch = (epoch, record) =>
                {
                    double? validationAccuracy = null;
                    if (validationData.Count > 0)
                    {
                        network.eval();
                        validationAccuracy = Evaluator.Accuracy(network, validationData, device, channelsLast: options.ChannelsLast);
                    }
                    double? estimate = null;
                    if (AttackSuccessEstimator is not null)
                    {
                        network.eval();
                        estimate = AttackSuccessEstimator(network);
                    }
                    record = record with { ValidationAccuracy = validationAccuracy, EstimatedAttackSuccess = estimate };
                    double? selectionScore = options.Selection == HeadSelection.BestValidationMinusEstimatedAttack ? validationAccuracy - (estimate ?? 0) : validationAccuracy;
                    if (options.Selection != HeadSelection.LastEpoch && selectionScore > (bestScore ?? double.NegativeInfinity))
                    {
                        bestScore = selectionScore;
                        bestAccuracy = validationAccuracy;
                        bestEpoch = epoch;
                        DisposeAll(bestHead);
                        bestHead = head.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
                        if (bestPath is not null)
                            Checkpoint.Write(bestPath, new CheckpointHeader(Stage + "-best", epoch + 1, [], optionsJson, bestAccuracy, bestEpoch), network, optimizer);
                    }
                    if (snapshotEpochs.Contains(epoch))
                    {
                        snapshots.Add(new HeadSnapshot(epoch, validationAccuracy, head.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone())));
                        // Before the epoch's checkpoint: a checkpoint past a snapshot epoch always has its snapshot beside it.
                        if (options.CheckpointDirectory is { } folder)
                            Checkpoint.Write(Path.Combine(folder, SnapshotFileName(epoch)),
                                new CheckpointHeader(SnapshotStage, epoch + 1, [], optionsJson, validationAccuracy, epoch), head, optimizer);
                    }
                    return record;
                },
                EpochCompleted = e => EpochCompleted?.Invoke(this, e),
                SaveCheckpoint = checkpointPath is null ? null : (epoch, done) =>
                    Checkpoint.Write(checkpointPath, new CheckpointHeader(Stage, epoch + 1, done, optionsJson, bestAccuracy, bestEpoch), network, optimizer),
            }.Run(startEpoch, history, cancellationToken);

            int selected = options.Epochs - 1;
            double? selectedAccuracy = history.Count > 0 ? history[^1].ValidationAccuracy : null;
            if (options.Selection != HeadSelection.LastEpoch && bestHead is not null)
            {
                using (no_grad())
                    foreach (var (name, value) in head.state_dict()) value.copy_(bestHead[name]);
                selected = bestEpoch;
                selectedAccuracy = bestAccuracy;
            }
            network.eval();
            var result = new HeadReplacementResult
            {
                Network = network, History = history, SelectedEpoch = selected, ValidationAccuracy = selectedAccuracy,
                HoldoutTrainCount = trainData.Count, ValidationCount = validationData.Count, Seconds = total.Elapsed.TotalSeconds,
                ValidationIndices = validationIndices, Snapshots = snapshots, Options = options.Clone(),
            };
            snapshots = [];
            return result;
        }
        finally
        {
            DisposeAll(bestHead);
            // Only when Fit fails: a returned result owns its snapshots.
            foreach (var snapshot in snapshots) snapshot.Dispose();
        }
    }

    // Cross-entropy of the new head on the frozen stem's features, with seeded CutMix on some batches. Channels-last
    // comes before CutMix: its element-wise mixing keeps the layout, so both branches feed the stem channels-last.
    private StepOutput Step(TrapNetwork network, Tensor images, Tensor labels, int epoch, int step)
    {
        int seed = BatchLoader.MixSeed(options.DataSeed, epoch, step + 2_000_000);
        var random = new Random(seed);
        if (options.CutMixProbability > 0 && random.NextDouble() < options.CutMixProbability)
        {
            using var generator = new Generator((ulong)seed);
            var mixed = CutMix.Apply(images, labels, options.CutMixBeta, random, generator);
            var mixedLogits = MixedPrecision.Float32Output(options.Precision, () => network.ForwardWithFrozenStem(mixed.Images));
            var mixedLoss = nn.functional.cross_entropy(mixedLogits, mixed.Labels, label_smoothing: options.LabelSmoothing).mul(mixed.Lambda)
                .add(nn.functional.cross_entropy(mixedLogits, mixed.PastedLabels, label_smoothing: options.LabelSmoothing).mul(1 - mixed.Lambda));
            return new StepOutput(mixedLoss, mixedLogits, mixedLoss, AccuracyLabels: mixed.Lambda >= 0.5 ? mixed.Labels : mixed.PastedLabels);
        }
        var logits = MixedPrecision.Float32Output(options.Precision, () => network.ForwardWithFrozenStem(images));
        var loss = nn.functional.cross_entropy(logits, labels, label_smoothing: options.LabelSmoothing);
        return new StepOutput(loss, logits, loss);
    }

    /// <summary>
    /// The snapshots a resume from <paramref name="checkpointPath"/> needs (every snapshot epoch before the checkpoint's),
    /// read back from their files. When one is missing or cannot be trusted, the checkpoint is moved aside with the
    /// reason and stage 2 starts again, rather than return fewer snapshots than an uninterrupted run. Empty when there
    /// is nothing to resume.
    /// </summary>
    private List<HeadSnapshot> ResumedSnapshots(string checkpointPath, IReadOnlySet<int> snapshotEpochs, IBackbone backbone, string optionsJson, Device device)
    {
        var loaded = new List<HeadSnapshot>();
        if (!File.Exists(checkpointPath)) return loaded;
        CheckpointHeader resumed;
        try
        {
            resumed = Checkpoint.ReadHeader(checkpointPath);
        }
        catch (ModelFormatException)
        {
            return loaded;   // damaged: Checkpoint.TryResume moves it aside and says why
        }
        if (resumed.Stage != Stage || resumed.OptionsJson != optionsJson) return loaded;   // refused by Checkpoint.TryResume
        int completed = resumed.CompletedEpochs;
        var folder = Path.GetDirectoryName(checkpointPath)!;
        foreach (int epoch in snapshotEpochs.Where(e => e < completed))
        {
            var path = Path.Combine(folder, SnapshotFileName(epoch));
            string? problem = null;
            try
            {
                var header = Checkpoint.ReadHeader(path);
                if (header.Stage != SnapshotStage || header.BestEpoch != epoch || header.OptionsJson != optionsJson)
                    problem = $"{path} is not epoch {epoch}'s snapshot of this stage 2";
                else
                    loaded.Add(new HeadSnapshot(epoch, header.BestValidationAccuracy, LoadHeadState(path, backbone, device, options.Dropout, wholeNetwork: false)));
            }
            catch (ModelFormatException e)
            {
                problem = $"the head snapshot of epoch {epoch} cannot be used ({e.Problem})";
            }
            if (problem is not null)
            {
                foreach (var snapshot in loaded) snapshot.Dispose();
                Checkpoint.MoveAside(checkpointPath, Stage, problem, logger);
                return [];
            }
        }
        return loaded;
    }

    private static Dictionary<string, Tensor> LoadHeadState(string path, IBackbone backbone, Device device, double dropout, bool wholeNetwork)
    {
        // A snapshot file stores the head alone; the best checkpoint a whole network, of which only the head is needed.
        using var holder = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(dropout), null) { Backbone = backbone };
        Checkpoint.Read(path, wholeNetwork ? holder : holder.Head.Module, null);
        holder.to(device);
        return holder.Head.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    private static void DisposeAll(Dictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (var t in tensors.Values) t.Dispose();
    }

    /// <summary>
    /// What keeps <paramref name="holdout"/> from replacing <paramref name="backbone"/>'s head with
    /// <paramref name="options"/>, one message per problem (empty when none); an option's name in a message is
    /// preceded by <paramref name="optionPrefix"/>. Checked before anything trains, here and by the fluent defense
    /// before stage 1.
    /// </summary>
    internal static List<string> HoldoutProblems(IBackbone backbone, ImageDataset holdout, HeadReplacerOptions options, string optionPrefix = "")
    {
        var problems = new List<string>();
        var expected = backbone.InputShape;
        if (holdout.Height != expected.Height || holdout.Width != expected.Width)
            problems.Add($"{backbone.Name} expects {expected.Height}x{expected.Width} images; the holdout '{holdout.Name}' has {holdout.Height}x{holdout.Width}");
        if (holdout.ClassCount != backbone.ClassCount)
            problems.Add($"the holdout '{holdout.Name}' has {holdout.ClassCount} classes; {backbone.Name} was built for {backbone.ClassCount}");
        if (holdout.Count == 0)
        {
            problems.Add($"the holdout '{holdout.Name}' is empty");
            return problems;
        }
        if (options.ValidationFraction > 0)
        {
            int validation = HoldoutSplit.HeldOutCount(holdout.LabelArray(), options.ValidationFraction);
            if (validation == 0)
                problems.Add($"{optionPrefix}ValidationFraction {options.ValidationFraction} leaves no validation image in a holdout of {holdout.Count} " +
                    $"(each class keeps round(fraction x its images)): use a larger holdout or fraction, or set {optionPrefix}ValidationFraction = 0 " +
                    $"and {optionPrefix}Selection = LastEpoch");
            else if (validation == holdout.Count)
                problems.Add($"{optionPrefix}ValidationFraction {options.ValidationFraction} leaves no training image in a holdout of {holdout.Count}");
        }
        return problems;
    }
}
