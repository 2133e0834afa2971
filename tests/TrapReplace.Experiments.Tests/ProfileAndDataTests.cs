using TrapReplace.Data;
using TrapReplace.Experiments.Specs;
using TrapReplace.Experiments.Splits;
using TrapReplace.Models;
using TrapReplace.Tests.Shared;
using TrapReplace.Training;
using TrapReplace.Replacement;

namespace TrapReplace.Experiments.Tests;

public sealed class ProfileAndDataTests
{
    [Theory]
    [InlineData("full")]
    [InlineData("full-short")]
    [InlineData("full-35")]
    [InlineData("full-wd1e-4")]
    [InlineData("full-b128")]
    [InlineData("full-long")]
    [InlineData("quick")]
    [InlineData("paper")]
    public void Every_real_profile_keeps_the_papers_five_percent_holdout(string name)
    {
        var profile = ExperimentProfile.Find(name)!;
        profile.HoldoutFraction.Should().Be(0.05);
        if (profile.PoolCount is null)
            profile.UntrustedCount.Should().BeNull("the untrusted part is the whole rest of the training set, as in the paper");
    }

    [Fact]
    public void The_full_profiles_differ_only_in_stage1_epochs_and_the_measured_alternatives_in_batch_or_weight_decay()
    {
        var full = ExperimentProfile.Full;
        (full.PoolCount, full.UntrustedCount, full.TestCount).Should().Be((null, null, null));
        full.DefenseEpochs.Should().Be(100, "head replacement keeps the reference's 100 epochs");
        ExperimentProfile.FullShort.Should().Be(full with { Name = "full-short", Stage1Epochs = full.Stage1Epochs / 3 });
        ExperimentProfile.FullLong.Should().Be(full with { Name = "full-long", Stage1Epochs = full.Stage1Epochs * 3 });
        ExperimentProfile.Full35.Should().Be(full with { Name = "full-35", Stage1Epochs = 35 });
        ExperimentProfile.FullLightDecay.Should().Be(full with { Name = "full-wd1e-4", Stage1WeightDecay = 1e-4 });
        ExperimentProfile.FullBatch128.Should().Be(full with { Name = "full-b128", Stage1BatchSize = 128 });
        var options = full.Stage1Options(trap: true, seed: 0, threads: 2, device: ComputeDevice.Cpu);
        (options.Epochs, options.BatchSize, options.WeightDecay).Should().Be((60, 256, 5e-4), "the reference's optimiser and batch, a third of its epochs");
        ExperimentProfile.FullLightDecay.Stage1Options(trap: true, seed: 0, threads: 2, device: ComputeDevice.Cpu).WeightDecay.Should().Be(1e-4);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void Stage2_gets_its_own_model_seed_and_stage1_the_cells_seed(int seed)
    {
        var profile = ExperimentProfile.Full;
        profile.Stage1Options(trap: true, seed, 2, ComputeDevice.Cpu).ModelSeed.Should().Be(seed);
        var replace = profile.ReplaceOptions(seed, 2, ComputeDevice.Cpu);
        replace.ModelSeed.Should().Be(HeadReplacerOptions.FreshHeadSeed(seed)).And.NotBe(seed).And.NotBe(seed + 1);
        replace.DataSeed.Should().Be(seed);
    }

    [Fact]
    public async Task The_curve_subset_is_stratified_even_when_the_test_file_is_sorted_by_class()
    {
        using var data = SyntheticCifar10.WithClassSortedTest();
        var location = new DataLocation(data.Root, "--data", false, null);

        using var experiment = await ExperimentData.LoadAsync(ExperimentDataset.Cifar10, location, ExperimentProfile.Smoke, CancellationToken.None);

        experiment.Test.Count.Should().Be(300);
        experiment.CurveTest.Count.Should().Be(100);
        experiment.CurveTest.LabelArray().GroupBy(l => l).Select(g => g.Count())
            .Should().HaveCount(10).And.OnlyContain(n => n == 10, "each class gets its share of the curve subset");
        // Every curve image is one of the test selection's images.
        var test = experiment.Test.Images.reshape(experiment.Test.Count, -1);
        var curve = experiment.CurveTest.Images.reshape(experiment.CurveTest.Count, -1);
        for (long i = 0; i < curve.shape[0]; i += 17)
            test.eq(curve[i]).all(1).any().item<bool>().Should().BeTrue($"curve image {i} comes from the test selection");
    }

    [Fact]
    public async Task The_exact_test_subset_is_the_test_selection_within_records_0_to_999_and_the_test_file_is_identified()
    {
        // Class-sorted: records 0-999 are exactly the 1,000 images of class 0, so the subset must be the 30 selected ones.
        using var data = SyntheticCifar10.WithClassSortedTest();
        var location = new DataLocation(data.Root, "--data", false, null);

        using var experiment = await ExperimentData.LoadAsync(ExperimentDataset.Cifar10, location, ExperimentProfile.Smoke, CancellationToken.None);

        experiment.ExactTest.Should().NotBeNull();
        experiment.ExactTest!.Count.Should().Be(30, "the smoke profile selects 30 test images per class");
        experiment.ExactTest.LabelArray().Should().OnlyContain(l => l == 0);
        var test = experiment.Test.Images.reshape(experiment.Test.Count, -1);
        var exact = experiment.ExactTest.Images.reshape(experiment.ExactTest.Count, -1);
        for (long i = 0; i < exact.shape[0]; i += 7)
            test.eq(exact[i]).all(1).any().item<bool>().Should().BeTrue($"exact image {i} comes from the test selection");
        using var sha = System.Security.Cryptography.SHA256.Create();
        var expected = Convert.ToHexStringLower(sha.ComputeHash(File.ReadAllBytes(Path.Combine(data.Root, "cifar-10-batches-bin", "test_batch.bin"))));
        experiment.TestFile.Should().Be(new TestFileCheck(Path.Combine(data.Root, "cifar-10-batches-bin", "test_batch.bin"), expected, false));
    }

    [Fact]
    public void The_run_places_and_seeds_every_stage_through_the_shared_runtime_part()
    {
        var settings = new RunSettings(new DataLocation("/data", "test", false, null), "results", Threads: 3, Device: ComputeDevice.Cuda(1), ChannelsLast: false);
        var peer = settings.Apply(new TrapReplace.Peers.AdversarialNeuronPruningOptions(), modelSeed: 7, dataSeed: 8);
        (peer.ModelSeed, peer.DataSeed, peer.Threads, peer.Device, peer.ChannelsLast).Should().Be((7, 8, 3, ComputeDevice.Cuda(1), false));

        var profile = ExperimentProfile.Full;
        var stage1 = profile.Stage1Options(trap: true, seed: 4, threads: 3, device: ComputeDevice.Cuda(1), channelsLast: false);
        (stage1.ModelSeed, stage1.DataSeed, stage1.Threads, stage1.Device, stage1.ChannelsLast).Should().Be((4, 4, 3, ComputeDevice.Cuda(1), false));
        var replace = profile.ReplaceOptions(seed: 4, threads: 3, device: ComputeDevice.Cuda(1), channelsLast: false);
        (replace.ModelSeed, replace.DataSeed, replace.Threads, replace.Device, replace.ChannelsLast)
            .Should().Be((HeadReplacerOptions.FreshHeadSeed(4), 4, 3, ComputeDevice.Cuda(1), false), "the new head's weights have their own seed stream");
        var fineTune = profile.FineTuneOptions(seed: 4, threads: 3, device: ComputeDevice.Cuda(1), channelsLast: false);
        (fineTune.ModelSeed, fineTune.DataSeed, fineTune.Threads, fineTune.Device, fineTune.ChannelsLast).Should().Be((4, 4, 3, ComputeDevice.Cuda(1), false));
    }
}
