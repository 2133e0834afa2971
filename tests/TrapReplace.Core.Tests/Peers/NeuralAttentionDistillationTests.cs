using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Models;
using TrapReplace.Peers;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Peers;

public sealed class NeuralAttentionDistillationTests
{
    private static readonly WideResNet16Backbone Backbone = new(4);

    [Fact]
    public void Attention_map_is_the_channel_sum_of_squares_normalised_per_sample()
    {
        // One sample, two channels, a 1x2 map: channel 0 = [1, 2], channel 1 = [0, -2]; the second sample is 10x the first.
        using var features = tensor(new float[] { 1, 2, 0, -2, 10, 20, 0, -20 }, [2, 2, 1, 2]);

        using var map = AttentionDistillation.AttentionMap(features);

        map.shape.Should().Equal(2, 2);
        double norm = Math.Sqrt(65);
        var values = map.data<float>().ToArray();
        values[0].Should().BeApproximately((float)(1 / (norm + 1e-6)), 1e-6f);
        values[1].Should().BeApproximately((float)(8 / (norm + 1e-6)), 1e-6f);
        values[2].Should().BeApproximately(values[0], 1e-6f, "the map does not depend on the sample's scale");
        values[3].Should().BeApproximately(values[1], 1e-6f);
    }

    [Fact]
    public void Attention_loss_is_the_mean_squared_difference_of_the_maps()
    {
        using var student = tensor(new float[] { 1, 2, 0, -2 }, [1, 2, 1, 2]);
        using var teacher = tensor(new float[] { 2, 0, 0, 0 }, [1, 2, 1, 2]);

        using var loss = AttentionDistillation.Loss(student, teacher);

        double norm = Math.Sqrt(65);
        double s0 = 1 / (norm + 1e-6), s1 = 8 / (norm + 1e-6), t0 = 4 / (4 + 1e-6);
        double expected = (Math.Pow(s0 - t0, 2) + Math.Pow(s1, 2)) / 2;
        loss.ToDouble().Should().BeApproximately(expected, 1e-6);
        using var same = AttentionDistillation.Loss(student, student.mul(3));
        same.ToDouble().Should().BeApproximately(0, 1e-9);
    }

    [Fact]
    public void Teacher_and_student_are_new_networks_and_distillation_pulls_the_student_attention_toward_the_teacher()
    {
        var model = PeerTestModels.SharedWrn;
        var before = PeerTestModels.Snapshot(model);
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var stages = new List<string>();

        var defense = new NeuralAttentionDistillation(Small());
        defense.EpochCompleted += (_, e) => stages.Add(e.Stage);
        var result = defense.Fit(model, Backbone, holdout);
        using var student = result.Network;

        PeerTestModels.Unchanged(model, before).Should().BeTrue("the input model is never modified");
        PeerTestModels.MaxDifference(student, model).Should().BeGreaterThan(0);
        stages.Should().Equal(Enumerable.Repeat("nad-teacher", 3).Concat(Enumerable.Repeat("nad-student", 6)));
        result.History.Select(r => r.Epoch).Should().Equal(Enumerable.Range(0, 9));
        result.TeacherEpochs.Should().Be(3);
        double start = result.AttentionLossBefore!.Value;
        double end = result.AttentionLossAfter!.Value;
        start.Should().BeGreaterThan(0, "the fine-tuned teacher differs from the input model");
        // How far it moves changed with test order (27 % with the peer tests serialised, over 50 % before); the direction did not.
        end.Should().BeLessThan(start * 0.8, "the student's attention moves toward the teacher's on held-out images");
        // The weighted attention part of the student's training loss (total - cross-entropy) shrinks too.
        var attentionPart = result.History.Skip(3).Select(r => r.Loss.Total - r.Loss.Classification).ToArray();
        attentionPart[0].Should().BeGreaterThan(0);
        attentionPart[^1].Should().BeLessThan(attentionPart[0] / 2);
        result.History.Take(3).Should().OnlyContain(r => r.Loss.Total == r.Loss.Classification, "the teacher trains on cross-entropy only");
        student.training.Should().BeFalse();
        PeerTestModels.DisposeAll(before);
    }

    [Fact]
    public void The_same_fit_gives_the_same_bits_whatever_ran_before_it_in_the_process()
    {
        // Every draw goes through the library's seeding entry point, so draws from (or a reseed of) torch's process-wide
        // generator before a fit change nothing: the result cannot depend on which tests ran first.
        var model = PeerTestModels.SharedWrn;
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var first = new NeuralAttentionDistillation(Small()).Fit(model, Backbone, holdout);
        using var firstNetwork = first.Network;

        using (var noise = rand(1000)) noise.sum().ToDouble().Should().BeGreaterThan(0);
        var second = new NeuralAttentionDistillation(Small()).Fit(model, Backbone, holdout);
        using var secondNetwork = second.Network;
        manual_seed(12345);
        var third = new NeuralAttentionDistillation(Small()).Fit(model, Backbone, holdout);
        using var thirdNetwork = third.Network;

        second.AttentionLossAfter.Should().Be(first.AttentionLossAfter);
        third.AttentionLossAfter.Should().Be(first.AttentionLossAfter);
        PeerTestModels.MaxDifference(secondNetwork, firstNetwork).Should().Be(0);
        PeerTestModels.MaxDifference(thirdNetwork, firstNetwork).Should().Be(0);
    }

    [NativeBf16Fact]
    public void In_bf16_the_student_still_moves_toward_the_teachers_attention_with_float32_weights()
    {
        var model = PeerTestModels.SharedWrn;
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var options = Small();

        var full = new NeuralAttentionDistillation(options).Fit(model, Backbone, holdout);
        using var fullStudent = full.Network;
        options.Precision = TrapReplace.Runtime.Precision.BFloat16;
        var mixed = new NeuralAttentionDistillation(options).Fit(model, Backbone, holdout);
        using var mixedStudent = mixed.Network;

        mixed.History.Should().OnlyContain(r => double.IsFinite(r.Loss.Total));
        mixed.AttentionLossAfter!.Value.Should().BeLessThan(mixed.AttentionLossBefore!.Value * 0.8);
        mixedStudent.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        PeerTestModels.MaxDifference(mixedStudent, fullStudent).Should().BeGreaterThan(0, "the bf16 forward passes change the training");
    }

    [Fact]
    public void Invalid_options_are_all_reported_together()
    {
        var options = new NeuralAttentionDistillationOptions { TeacherEpochs = 0, HeadAttentionWeight = -1, AttentionPower = 0, ValidationFraction = 1 };
        var act = () => new NeuralAttentionDistillation(options);
        var error = act.Should().Throw<OptionsValidationException>().Which;
        error.Failures.Should().HaveCount(4);
        error.Message.Should().Contain("TeacherEpochs must be >= 1; got 0")
            .And.Contain("HeadAttentionWeight must be >= 0; got -1")
            .And.Contain("AttentionPower must be > 0; got 0")
            .And.Contain("ValidationFraction must be in [0, 1); got 1");
    }

    private static NeuralAttentionDistillationOptions Small() => new()
    {
        TeacherEpochs = 3,
        Epochs = 6,
        BatchSize = 16,
        ValidationFraction = 0.25,
        Threads = 2,
    };
}
