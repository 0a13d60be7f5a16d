from django.shortcuts import render


def canvas_list(request):
    return render(request, "canvas/list.html", {})
