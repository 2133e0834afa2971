using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Runtime;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>
/// I-BAU: solves min_theta max_delta CE(f_theta(x + delta), y) on the clean holdout with one universal
/// perturbation delta (a stand-in for the unknown trigger). Each round (1) searches delta with one pass of plain
/// gradient steps that push the network away from its own predictions, and (2) unlearns it with one pass of
/// outer-optimizer steps on the implicit hypergradient, which accounts for how the worst delta moves when theta
/// moves (<see cref="ImplicitHypergradient"/>).
/// It always runs in float32, unlike the other trainers (its options refuse another <c>Precision</c>): under bf16 autocast the
/// hypergradient, which differentiates the network twice, turned the loss NaN within three steps on the test
/// fixture, whether the bf16 forward was the inner problem's, the outer's or both; only the first-order
/// perturbation search survived bf16, and it is the small part of a round.
/// </summary>
/// <remarks>
/// <para>Zeng, Chen, Park, Mao, Jin and Jia, "Adversarial Unlearning of Backdoors via Implicit Hypergradient",
/// ICLR 2022; mechanics as the authors' <c>defense.py</c>: the network stays in eval mode throughout (BatchNorm
/// statistics frozen), batches in order, the perturbation added to a random
/// <see cref="ImplicitBackdoorUnlearningOptions.PerturbedShare"/> of each unlearning batch.</para>
/// <para>One deliberate difference: the authors' inner loss always reads the first batch of the holdout; here it
/// reads the batch being unlearned, a stochastic estimate of the same full-holdout objective.</para>
/// <para>Nothing is selected on the validation split; it only reports accuracy per round.</para>
/// </remarks>
public sealed class ImplicitBackdoorUnlearning : ModelRepairDefense<ImplicitBackdoorUnlearningResult>
{
    private const string Stage = "i-bau";
    private readonly ImplicitBackdoorUnlearningOptions options;
    private readonly ILogger logger;

    /// <summary>Creates the defense; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some option is invalid (all are named).</exception>
    public ImplicitBackdoorUnlearning(ImplicitBackdoorUnlearningOptions options, ILogger<ImplicitBackdoorUnlearning>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger ?? NullLogger<ImplicitBackdoorUnlearning>.Instance;
    }

    /// <summary>The options in use (a copy).</summary>
    public ImplicitBackdoorUnlearningOptions Options => options.Clone();

    /// <inheritdoc />
    public override string Name => "i-bau";



    /// <summary>Runs I-BAU on a copy of <paramref name="model"/>.</summary>
    /// <param name="model">The trained, possibly backdoored network; it is not modified.</param>
    /// <param name="backbone">The backbone <paramref name="model"/> was built from.</param>
    /// <param name="holdout">Clean, trusted images.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <returns>The unlearned copy; one history record per round.</returns>
    public override ImplicitBackdoorUnlearningResult Fit(TrapNetwork model, IBackbone backbone, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(holdout);
        PeerModels.CheckData(backbone, holdout, nameof(holdout));
        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        var total = Stopwatch.StartNew();

        var (trainPart, validationPart) = PeerModels.SplitHoldout(holdout, options.ValidationFraction, options.DataSeed);
        using var trainData = trainPart;
        using var validation = validationPart;
        if (trainData.Count == 0) throw new ArgumentException("the holdout leaves no image to unlearn with", nameof(holdout));
        var loader = new BatchLoader(trainData, options.BatchSize, shuffle: false, dropLast: false, Augmentation.None, options.DataSeed);
        double? initialAccuracy = null, norm = null, fooling = null, finalFooling = null, finalAccuracy = null;

        var network = PeerModels.Copy(model, backbone, options.ModelSeed, device);
        try
        {
            if (validation.Count > 0) initialAccuracy = PeerModels.ValidationAccuracy(network, validation, device, options.ChannelsLast)!.Value;
            network.eval();
            using var optimizer = Optimization.Create(options.Optimizer, network.parameters(), options.LearningRate, 0, 0);
            var history = new List<EpochRecord>();
            Tensor? perturbation = null;
            try
            {
                new EpochLoop
                {
                    Runner = PeerModels.Runner(options, Stage, logger, device, OnStepCompleted),
                    Optimizer = optimizer,
                    Loader = loader,
                    Network = network,
                    Epochs = options.Rounds,
                    LearningRate = _ => options.LearningRate,
                    BeginEpoch = round =>
                    {
                        // Each round unlearns against the worst universal perturbation of the network as it is now.
                        perturbation?.Dispose();
                        perturbation = SearchPerturbation(network, loader, round, device, cancellationToken);
                        double roundNorm = perturbation.norm().ToDouble();
                        double roundFooling = FoolingRate(network, trainData, perturbation, device);
                        (norm, fooling) = (roundNorm, roundFooling);
                        PeerLog.PerturbationFound(logger, round + 1, options.Rounds, roundNorm, roundFooling);
                        network.eval();
                    },
                    Step = (images, labels, _, _) => UnlearningStep(network, images, labels, perturbation!),
                    EndEpoch = (_, record) => record with { ValidationAccuracy = PeerModels.ValidationAccuracy(network, validation, device, options.ChannelsLast) },
                    EpochCompleted = OnEpochCompleted,
                }.Run(0, history, cancellationToken);
            }
            finally
            {
                perturbation?.Dispose();
            }
            using (var last = SearchPerturbation(network, loader, options.Rounds, device, cancellationToken))
                finalFooling = FoolingRate(network, trainData, last, device);
            if (validation.Count > 0) finalAccuracy = PeerModels.ValidationAccuracy(network, validation, device, options.ChannelsLast)!.Value;
            network.eval();
            return new ImplicitBackdoorUnlearningResult
            {
                Network = network,
                History = history,
                Seconds = total.Elapsed.TotalSeconds,
                PerturbationNorm = norm,
                FoolingRate = fooling,
                FoolingRateFinal = finalFooling,
                ValidationAccuracyInitial = initialAccuracy,
                ValidationAccuracyFinal = finalAccuracy,
            };
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One pass of plain gradient steps on delta (1, C, H, W), starting at 0, minimising
    /// -CE(f(x + delta), f(x)'s prediction) + penalty ||delta||^2, then the optional projection. Caller-owned.
    /// </summary>
    private Tensor SearchPerturbation(TrapNetwork network, BatchLoader loader, int round, Device device, CancellationToken cancellationToken)
    {
        network.eval();
        var data = loader.Dataset;
        var delta = zeros(1, 3, data.Height, data.Width, device: device);
        var plan = loader.PlanEpoch(round);
        for (int s = 0; s < plan.Length; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = StepScope.Begin();
            var images = loader.Load(plan[s], round, s).Images.to(device);
            Tensor predictions;
            using (no_grad()) predictions = network.call(Layout(images)).argmax(1);
            var leaf = delta.detach().requires_grad_(true);
            var loss = nn.functional.cross_entropy(network.call(Layout(images.add(leaf))), predictions).neg()
                .add(leaf.pow(2).sum().mul(options.PerturbationPenalty));
            var gradient = torch.autograd.grad([loss], [leaf])[0];
            var next = leaf.detach().sub(gradient.mul(options.PerturbationLearningRate));
            if (!next.isfinite().all().ToBoolean())
                throw new TrainingDivergedException(Stage, round, s, new LossParts(double.NaN, double.NaN, 0, 0), null);
            delta.Dispose();
            delta = next.MoveToOuterDisposeScope();
        }
        if (options.PerturbationRadius is { } radius)
        {
            double norm = delta.norm().ToDouble();
            if (norm > radius) delta.mul_(radius / norm);
        }
        return delta;
    }

    // Every input that delta reaches goes channels-last when the options say so: its gradient then flows back through the
    // first convolution's input gradient, which libtorch 2.10 computes wrongly in the standard layout for 3 input
    // channels on some CPUs (docs/performance.md, `--kernel-check`: 47 % off on a Zen 5 EPYC, and intermittently NaN
    // for other channel counts), which made the perturbation search diverge in one run and not the next.
    private Tensor Layout(Tensor images) => options.ChannelsLast ? MemoryLayout.ToChannelsLast(images) : images;

    /// <summary>The outer step: cross-entropy with delta added to a random share of the batch, as the implicit-hypergradient surrogate.</summary>
    private StepOutput UnlearningStep(TrapNetwork network, Tensor images, Tensor labels, Tensor perturbation)
    {
        long n = images.shape[0];
        int perturbed = (int)Math.Floor(n * options.PerturbedShare + 1e-9);
        if (perturbed == 0)
        {
            var plainLogits = network.call(images);
            var plain = nn.functional.cross_entropy(plainLogits, labels);
            return new StepOutput(plain, plainLogits, plain);
        }
        // Which images get delta: from the generator the runner seeds per step.
        var selection = zeros(n, 1, 1, 1, device: images.device);
        selection.index_fill_(0, randperm(n, device: images.device).narrow(0, 0, perturbed), 1);
        Tensor? logits = null;
        Tensor Inner(Tensor delta) =>
            nn.functional.cross_entropy(network.call(Layout(images.add(delta))), labels).neg().add(delta.pow(2).sum().mul(options.PerturbationPenalty));
        Tensor Outer(Tensor delta)
        {
            logits = network.call(Layout(images.add(selection.mul(delta))));
            return nn.functional.cross_entropy(logits, labels);
        }
        var surrogate = ImplicitHypergradient.Surrogate(perturbation, Inner, Outer, options.InnerLearningRate, options.FixedPointSteps);
        var outer = surrogate.detach();
        return new StepOutput(surrogate, logits!.detach(), outer);
    }

    /// <summary>Share of <paramref name="data"/> whose predicted class changes when <paramref name="perturbation"/> is added.</summary>
    private static double FoolingRate(TrapNetwork network, ImageDataset data, Tensor perturbation, Device device, int batchSize = 500)
    {
        network.eval();
        using var noGrad = no_grad();
        long changed = 0;
        for (long start = 0; start < data.Count; start += batchSize)
        {
            using var scope = StepScope.Begin();
            long count = Math.Min(batchSize, data.Count - start);
            var images = PeerModels.FloatImages(data, start, count, device);
            var clean = network.call(images).argmax(1);
            var attacked = network.call(images.add(perturbation)).argmax(1);
            changed += clean.ne(attacked).sum().ToInt64();
        }
        return data.Count == 0 ? 0 : (double)changed / data.Count;
    }
}
