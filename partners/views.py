from django.shortcuts import render


def partner_list(request):
    return render(request, "partners/list.html", {})
