using Microsoft.Extensions.Options;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Peers;
using TrapReplace.Training;
using static TorchSharp.torch;
using TrapReplace.Core.Tests.Infrastructure;

namespace TrapReplace.Core.Tests.Peers;

public sealed class AntiBackdoorLearningTests
{
    private const int Size = 16;
    private static readonly WideResNet16Backbone Backbone = new(4, imageSize: Size);

    /// <summary>Uniform noise in [0, 200) with labels i mod 4: a clean task a few epochs cannot learn, so, as on
    /// real data, the trigger is by far the easiest thing to fit. (On the colour-quadrant set the clean task is
    /// easier than the trigger and isolation finds nothing.)</summary>
    private static ImageDataset Noise(int n, int seed)
    {
        var random = new Random(seed);
        var pixels = new byte[n * 3 * Size * Size];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)random.Next(0, 200);
        using var images = tensor(pixels, [n, 3, Size, Size], ScalarType.Byte);
        using var labels = tensor(Enumerable.Range(0, n).Select(i => (long)(i % 4)).ToArray());
        return ImageDataset.FromTensors(images, labels, ["c0", "c1", "c2", "c3"], "noise");
    }

    /// <summary>BadNets-like poisoning built by hand (Core tests do not see the Attacks assembly): a white 4x4
    /// square in the bottom-right corner (one pixel from the edges) and the label set to 0, on a seeded choice of non-target images.</summary>
    internal static (ImageDataset Data, HashSet<int> Poisoned) Poison(ImageDataset clean, double ratio, int seed)
    {
        var labels = clean.LabelArray();
        var candidates = Enumerable.Range(0, clean.Count).Where(i => labels[i] != 0).ToArray();
        new Random(seed).Shuffle(candidates);
        var poisoned = candidates.Take((int)Math.Round(ratio * clean.Count)).ToHashSet();
        using var images = clean.Images.clone();
        using var newLabels = clean.Labels.clone();
        foreach (var i in poisoned)
        {
            images[TensorIndex.Single(i), TensorIndex.Colon, TensorIndex.Slice(clean.Height - 5, clean.Height - 1), TensorIndex.Slice(clean.Width - 5, clean.Width - 1)].fill_(255);
            newLabels[i] = 0L;
        }
        return (ImageDataset.FromTensors(images, newLabels, clean.ClassNames, "badnets-poisoned"), poisoned);
    }

    [Fact]
    public void Isolated_samples_are_enriched_in_poisoned_indices()
    {
        using var clean = Noise(320, seed: 11);
        var (data, poisoned) = Poison(clean, 0.1, seed: 3);
        using var untrusted = data;
        var options = Small();
        var stages = new List<string>();
        var defense = new AntiBackdoorLearning(options);
        defense.EpochCompleted += (_, e) => stages.Add(e.Stage);

        var result = defense.Fit(Backbone, untrusted);
        using var network = result.Network;

        result.IsolatedIndices.Should().HaveCount(16).And.BeInAscendingOrder().And.OnlyHaveUniqueItems();
        result.IsolatedCount.Should().Be(16);
        double precision = result.IsolatedIndices.Count(poisoned.Contains) / 16.0;
        precision.Should().BeGreaterThanOrEqualTo(0.5, "10% of the set is poisoned; isolation must do far better than chance");
        stages.Should().Equal(Enumerable.Repeat("abl-isolation", options.IsolationEpochs)
            .Concat(Enumerable.Repeat("abl-finetuning", options.FinetuningEpochs))
            .Concat(Enumerable.Repeat("abl-unlearning", options.UnlearningEpochs)));
        result.History.Select(r => r.Epoch).Should().Equal(Enumerable.Range(0, stages.Count));
        network.training.Should().BeFalse();
    }

    [Theory]
    [InlineData(1)] // inside isolation
    [InlineData(2)] // isolation finished, nothing isolated yet
    [InlineData(3)] // inside the fine-tuning phase, after isolating
    [InlineData(5)] // inside unlearning
    public void An_interrupted_run_resumes_from_its_checkpoint_to_exactly_the_uninterrupted_result(int epochsBeforeInterrupt)
    {
        using var clean = Noise(160, seed: 5);
        var (data, _) = Poison(clean, 0.1, seed: 2);
        using var untrusted = data;
        var directory = Directory.CreateTempSubdirectory("abl-resume").FullName;
        try
        {
            var options = Resumable();
            var uninterrupted = new AntiBackdoorLearning(options).Fit(Backbone, untrusted);
            using var expected = uninterrupted.Network;

            options.CheckpointDirectory = directory;
            using (var cts = new CancellationTokenSource())
            {
                var first = new AntiBackdoorLearning(options);
                int seen = 0;
                first.EpochCompleted += (_, _) => { if (++seen == epochsBeforeInterrupt) cts.Cancel(); };
                var interrupted = () => first.Fit(Backbone, untrusted, cancellationToken: cts.Token);
                interrupted.Should().Throw<OperationCanceledException>();
            }
            File.Exists(Path.Combine(directory, AntiBackdoorLearning.CheckpointFileName)).Should().BeTrue();

            var second = new AntiBackdoorLearning(options);
            var rerun = new List<int>();
            second.EpochCompleted += (_, e) => rerun.Add(e.Record.Epoch);
            var resumed = second.Fit(Backbone, untrusted);
            using var actual = resumed.Network;

            rerun.Should().Equal(Enumerable.Range(epochsBeforeInterrupt, 6 - epochsBeforeInterrupt), "only the epochs the first run did not finish train again");
            resumed.History.Select(h => h.Epoch).Should().Equal(Enumerable.Range(0, 6));
            resumed.History.Select(h => h.Loss.Total).Should().Equal(uninterrupted.History.Select(h => h.Loss.Total));
            resumed.IsolatedIndices.Should().Equal(uninterrupted.IsolatedIndices);
            resumed.IsolationLossThreshold.Should().Be(uninterrupted.IsolationLossThreshold);
            foreach (var (name, value) in expected.state_dict())
                value.allclose(actual.state_dict()[name], 0, 0).Should().BeTrue($"{name} should be bit-identical");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_checkpoint_written_with_other_options_is_refused_by_name()
    {
        using var clean = Noise(64, seed: 1);
        var directory = Directory.CreateTempSubdirectory("abl-options").FullName;
        try
        {
            var options = Resumable();
            options.CheckpointDirectory = directory;
            options.IsolationEpochs = 1;
            options.FinetuningEpochs = 0;
            options.UnlearningEpochs = 0;
            using (new AntiBackdoorLearning(options).Fit(Backbone, clean).Network) { }
            options.Gamma = 0.25;

            var act = () => new AntiBackdoorLearning(options).Fit(Backbone, clean);

            act.Should().Throw<InvalidOperationException>().WithMessage($"*{AntiBackdoorLearning.CheckpointFileName}*different options*");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [NativeBf16Fact]
    public void In_bf16_the_isolation_still_finds_the_poison_and_the_weights_stay_float32()
    {
        using var clean = Noise(320, seed: 11);
        var (data, poisoned) = Poison(clean, 0.1, seed: 3);
        using var untrusted = data;
        var options = Small();
        options.Precision = TrapReplace.Runtime.Precision.BFloat16;

        var result = new AntiBackdoorLearning(options).Fit(Backbone, untrusted);
        using var network = result.Network;

        (result.IsolatedIndices.Count(poisoned.Contains) / 16.0).Should().BeGreaterThanOrEqualTo(0.5);
        result.History.Should().OnlyContain(r => double.IsFinite(r.Loss.Total));
        network.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
    }

    [Fact]
    public void Local_gradient_ascent_flips_the_sign_below_gamma_and_flooding_reflects()
    {
        using var low = tensor(0.2);
        using var high = tensor(0.9);
        AntiBackdoorLearning.AscentObjective(low, AscentLoss.LocalGradientAscent, 0.5).ToDouble().Should().BeApproximately(-0.2, 1e-7);
        AntiBackdoorLearning.AscentObjective(high, AscentLoss.LocalGradientAscent, 0.5).ToDouble().Should().BeApproximately(0.9, 1e-7);
        AntiBackdoorLearning.AscentObjective(low, AscentLoss.Flooding, 0.5).ToDouble().Should().BeApproximately(0.8, 1e-7);
        AntiBackdoorLearning.AscentObjective(high, AscentLoss.Flooding, 0.5).ToDouble().Should().BeApproximately(0.9, 1e-7);
    }

    [Fact]
    public void Isolation_takes_the_lowest_losses_with_at_least_one_sample()
    {
        AntiBackdoorLearning.LowestLoss([0.5, 0.1, 0.9, 0.1, 0.3], 0.4).Should().Equal(1, 3);
        AntiBackdoorLearning.LowestLoss([0.5, 0.1, 0.9], 0.01).Should().Equal(1);
    }

    [Fact]
    public void Invalid_options_are_all_reported_together()
    {
        var options = new AntiBackdoorLearningOptions { IsolationEpochs = 0, IsolationRatio = 0, UnlearningLearningRate = 0, Gamma = double.NaN };
        var act = () => new AntiBackdoorLearning(options);
        var error = act.Should().Throw<OptionsValidationException>().Which;
        error.Failures.Should().HaveCount(4);
        error.Message.Should().Contain("IsolationEpochs must be >= 1; got 0")
            .And.Contain("IsolationRatio must be in (0, 1); got 0")
            .And.Contain("UnlearningLearningRate must be a positive number; got 0")
            .And.Contain("Gamma must be >= 0; got NaN");
    }

    // Two epochs in each phase, so an interruption can fall inside every one of them.
    private static AntiBackdoorLearningOptions Resumable() => Small(isolation: 2, finetuning: 2, unlearning: 2);

    private static AntiBackdoorLearningOptions Small(int isolation = 4, int finetuning = 1, int unlearning = 1) => new()
    {
        IsolationEpochs = isolation,
        Optimizer = OptimizerKind.Adam,
        IsolationLearningRate = 3e-3,
        IsolationRatio = 0.05,
        FinetuningEpochs = finetuning,
        FinetuningLearningRate = 3e-3,
        UnlearningEpochs = unlearning,
        BatchSize = 32,
        Threads = 2,
    };
}
