using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Peers;
using TrapReplace.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Peers;

public sealed class AdversarialNeuronPruningTests(ITestOutputHelper output)
{
    [Fact]
    public void Unit_masks_without_noise_leave_the_network_unchanged_and_a_zero_mask_is_pruning()
    {
        var backbone = new WideResNet16Backbone(4);
        var model = PeerTestModels.SharedWrn;
        using var holdout = Synthetic.ColourClasses(32, seed: 8);
        using var images = holdout.ImagesAsFloat();
        using var work = PeerModels.Copy(model, backbone, 0, CPU);
        work.eval();
        using var plain = work.call(images).detach();
        using var perturbation = new NeuronPerturbation(work, CPU);
        perturbation.Layers.Should().HaveCount(13, "every affine BatchNorm2d of WRN-16-1, including the two unused ones of the widening blocks");
        using (var masked = work.call(images).detach())
            masked.allclose(plain, 1e-5, 1e-5).Should().BeTrue("mask 1 without noise is the identity");
        perturbation.MaskValues().Should().HaveCount(4 * 16 + 3 * 32 + 4 * 64,
            "only the BatchNorms the forward pass runs carry neurons: 4 of width 16, 3 of 32, 4 of 64");

        var layer = perturbation.Layers[5];
        using (no_grad()) layer.Mask[3] = 0f;
        using var zeroMask = work.call(images).detach();
        using var pruned = PeerModels.Copy(model, backbone, 0, CPU);
        AdversarialNeuronPruning.Prune(pruned, [new NeuronMask(layer.Name, 3, 0)]);
        pruned.eval();
        using var prunedLogits = pruned.call(images).detach();
        zeroMask.allclose(prunedLogits, 1e-5, 1e-5).Should().BeTrue("mask 0 on a channel equals a BatchNorm scale of 0");
        zeroMask.allclose(plain, 1e-3, 1e-3).Should().BeFalse("the channel mattered");
    }

    [Fact]
    public void Noise_ascent_raises_the_loss_and_stays_within_eps()
    {
        var backbone = new WideResNet16Backbone(4);
        using var holdout = Synthetic.ColourClasses(64, seed: 8);
        using var images = holdout.ImagesAsFloat();
        using var labels = holdout.Labels.clone();
        using var work = PeerModels.Copy(PeerTestModels.SharedWrn, backbone, 0, CPU);
        foreach (var p in work.parameters()) p.requires_grad = false;
        work.eval();
        using var perturbation = new NeuronPerturbation(work, CPU);
        perturbation.Perturbed = true;
        manual_seed(1);
        perturbation.ResetNoise(0.2);
        double Loss() { using var noGrad = no_grad(); return nn.functional.cross_entropy(work.call(images), labels).ToDouble(); }
        double random = Loss();
        perturbation.AscendNoise(() => nn.functional.cross_entropy(work.call(images), labels), 0.2, 0.2);
        double adversarial = Loss();
        output.WriteLine($"random noise {random:F4}, after ascent {adversarial:F4}");
        adversarial.Should().BeGreaterThan(random * 1.5, "one signed step against the loss gradient must hurt a lot more than random noise");
        foreach (var layer in perturbation.Layers)
        {
            layer.WeightNoise.abs().max().ToDouble().Should().BeLessThanOrEqualTo(0.2 + 1e-6);
            layer.BiasNoise.abs().max().ToDouble().Should().BeLessThanOrEqualTo(0.2 + 1e-6);
        }
    }

    [Fact]
    public void Pruning_a_backdoored_network_removes_the_backdoor_and_follows_the_validation_rule()
    {
        var fixture = PeerTestModels.Backdoored;
        var before = PeerTestModels.Snapshot(fixture.Network);
        double asrBefore = fixture.AttackSuccessRate(fixture.Network);
        double caBefore = fixture.CleanAccuracy(fixture.Network);
        var options = new AdversarialNeuronPruningOptions { Iterations = 100, BatchSize = 32, ValidationFraction = 0.25, CropPadding = 0, HorizontalFlip = false, Threads = 2 };
        var defense = new AdversarialNeuronPruning(options);
        int steps = 0;
        var stages = new List<string>();
        defense.StepCompleted += (_, _) => steps++;
        defense.EpochCompleted += (_, e) => stages.Add(e.Stage);
        IReadOnlyList<NeuronMask> masks = [];
        defense.MasksLearned += (_, e) => masks = e.Masks;

        var result = defense.Fit(fixture.Network, fixture.Backbone, fixture.Holdout);
        using var defended = result.Network;

        double asrAfter = fixture.AttackSuccessRate(defended);
        double caAfter = fixture.CleanAccuracy(defended);
        output.WriteLine($"ASR {asrBefore:P1} -> {asrAfter:P1}, CA {caBefore:P1} -> {caAfter:P1}; {result}");
        var (trainPart, validationPart) = HoldoutSplit.Create(fixture.Holdout.LabelArray(), 0.25, 0).Apply(fixture.Holdout);
        trainPart.Dispose();
        using var validation = validationPart;
        foreach (var m in masks.OrderBy(m => m.Value).Take(5)) output.WriteLine($"{m.Layer}[{m.Channel}] = {m.Value:F3}");

        asrBefore.Should().BeGreaterThan(0.95, "the fixture learned the backdoor");
        asrAfter.Should().BeLessThan(0.5, "pruning the neurons ANP's masks single out removes most of the backdoor");
        caAfter.Should().BeGreaterThan(caBefore - 0.05, "the clean task survives");

        // The returned network is the input with exactly the neurons below the threshold pruned (BatchNorm scale 0),
        // and the threshold is the last candidate that keeps 90 % of the validation accuracy.
        double threshold = result.Threshold;
        var pruned = masks.Where(m => m.Value < threshold).ToList();
        pruned.Should().NotBeEmpty();
        result.PrunedNeurons.Should().Be(pruned.Count);
        result.Neurons.Should().Be(416);
        using (var expected = PeerModels.Copy(fixture.Network, fixture.Backbone, 0, CPU))
        {
            AdversarialNeuronPruning.Prune(expected, pruned);
            PeerTestModels.MaxDifference(expected, defended).Should().Be(0);
        }
        double Accuracy(double t)
        {
            using var copy = PeerModels.Copy(fixture.Network, fixture.Backbone, 0, CPU);
            AdversarialNeuronPruning.Prune(copy, masks.Where(m => m.Value < t));
            copy.eval();
            return TrapReplace.Evaluation.Evaluator.Accuracy(copy, validation, CPU);
        }
        double floor = 0.9 * result.ValidationAccuracyUnpruned;
        Accuracy(threshold).Should().BeGreaterThanOrEqualTo(floor).And.Be(result.ValidationAccuracyPruned);
        if (threshold + 0.05 <= 0.9 + 1e-9) Accuracy(threshold + 0.05).Should().BeLessThan(floor, "the search stops at the first level below the floor");

        steps.Should().Be(100);
        stages.Should().HaveCount(25).And.AllBe("anp", "120 training images in batches of 32 make 4 steps a pass: 25 passes");
        defended.training.Should().BeFalse();
        PeerTestModels.Unchanged(fixture.Network, before).Should().BeTrue("the input model is never modified");
        PeerTestModels.DisposeAll(before);
    }

    [NativeBf16Fact]
    public void In_bf16_the_masks_learn_under_autocast_in_float32_and_pruning_still_removes_the_backdoor()
    {
        var fixture = PeerTestModels.Backdoored;
        AdversarialNeuronPruningOptions Options(TrapReplace.Runtime.Precision precision) => new()
        {
            Iterations = 100, BatchSize = 32, ValidationFraction = 0.25, CropPadding = 0, HorizontalFlip = false, Threads = 2, Precision = precision,
        };
        IReadOnlyList<NeuronMask> Masks(TrapReplace.Runtime.Precision precision, out AdversarialNeuronPruningResult result)
        {
            var defense = new AdversarialNeuronPruning(Options(precision));
            IReadOnlyList<NeuronMask> masks = [];
            defense.MasksLearned += (_, e) => masks = e.Masks;
            result = defense.Fit(fixture.Network, fixture.Backbone, fixture.Holdout);
            return masks;
        }

        var full = Masks(TrapReplace.Runtime.Precision.Float32, out var fullResult);
        using var fullNetwork = fullResult.Network;
        var mixed = Masks(TrapReplace.Runtime.Precision.BFloat16, out var mixedResult);
        using var mixedNetwork = mixedResult.Network;

        mixed.Should().HaveCount(full.Count).And.OnlyContain(m => double.IsFinite(m.Value) && m.Value >= 0 && m.Value <= 1);
        mixed.Zip(full).Count(p => p.First.Value != p.Second.Value).Should().BeGreaterThan(0, "the bf16 forward passes change the mask optimisation");
        mixedResult.History.Should().OnlyContain(r => double.IsFinite(r.Loss.Total));
        mixedNetwork.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        fixture.AttackSuccessRate(mixedNetwork).Should().BeLessThan(0.5, "as in float32, the low masks single out the backdoor's neurons");
        fixture.CleanAccuracy(mixedNetwork).Should().BeGreaterThan(fixture.CleanAccuracy(fixture.Network) - 0.05);
    }

    [Fact]
    public void Learn_masks_alone_gives_one_mask_in_the_unit_interval_per_neuron_and_leaves_the_model_alone()
    {
        var backbone = new WideResNet16Backbone(4);
        var model = PeerTestModels.SharedWrn;
        var before = PeerTestModels.Snapshot(model);
        using var data = Synthetic.ColourClasses(32, seed: 9);

        var masks = new AdversarialNeuronPruning(new AdversarialNeuronPruningOptions { Iterations = 3, BatchSize = 16, Threads = 2 })
            .LearnMasks(model, backbone, data);

        masks.Should().HaveCount(416);
        masks.Should().OnlyContain(m => m.Value >= 0 && m.Value <= 1);
        masks.Count(m => m.Value < 1).Should().BeGreaterThan(0, "three steps of mask SGD at lr 0.2 move some masks");
        masks.Select(m => (m.Layer, m.Channel)).Should().OnlyHaveUniqueItems();
        PeerTestModels.Unchanged(model, before).Should().BeTrue();
        PeerTestModels.DisposeAll(before);
    }

    [Fact]
    public void A_fixed_threshold_prunes_every_neuron_below_it_without_a_search()
    {
        var backbone = new WideResNet16Backbone(4);
        using var holdout = Synthetic.ColourClasses(40, seed: 9);
        var defense = new AdversarialNeuronPruning(new AdversarialNeuronPruningOptions
        {
            Iterations = 3, BatchSize = 16, FixedThreshold = 0.999, MinAccuracyRatio = 1, ValidationFraction = 0.2, Threads = 2,
        });
        IReadOnlyList<NeuronMask> masks = [];
        defense.MasksLearned += (_, e) => masks = e.Masks;

        var result = defense.Fit(PeerTestModels.SharedWrn, backbone, holdout);
        using var defended = result.Network;

        int below = masks.Count(m => m.Value < 0.999);
        below.Should().BeGreaterThan(0);
        result.Threshold.Should().Be(0.999, "the validation rule is not consulted");
        result.PrunedNeurons.Should().Be(below);
        var scales = defended.named_modules().Where(m => m.module is TorchSharp.Modules.BatchNorm2d)
            .ToDictionary(m => m.name, m => ((TorchSharp.Modules.BatchNorm2d)m.module).weight!);
        masks.Where(m => m.Value < 0.999).Should().OnlyContain(m => scales[m.Layer][m.Channel].ToSingle() == 0);
    }

    [Fact]
    public void Invalid_options_are_all_reported_together()
    {
        var options = new AdversarialNeuronPruningOptions { Iterations = 0, NoiseEpsilon = -0.1, TradeOff = 1.5, FixedThreshold = 2, ValidationFraction = 1 };
        var act = () => new AdversarialNeuronPruning(options);
        var error = act.Should().Throw<OptionsValidationException>().Which;
        error.Failures.Should().HaveCount(5);
        error.Message.Should().Contain("Iterations must be >= 1; got 0")
            .And.Contain("NoiseEpsilon must be >= 0; got -0.1")
            .And.Contain("TradeOff must be in [0, 1]; got 1.5")
            .And.Contain("FixedThreshold must be in [0, 1]; got 2")
            .And.Contain("ValidationFraction must be in (0, 1); got 1");
    }
}
